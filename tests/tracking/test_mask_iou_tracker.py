"""MaskIoUTracker on scripted detections: thresholds, gaps, backward pass, static suppression (paper 001).

Masks are 1-pixel-high bars in a 1×W frame, so every IoU below is an exact ratio of pixel counts.
"""
from __future__ import annotations

import numpy as np
import pytest

from vidseg.tracking import FrameDetections, MaskIoUTracker
from vidseg.structures.masks import decode_mask, encode_mask, iou_matrix, to_coco_rle

W = 120
SIZE = (1, W)


def bar(c0: int, c1: int) -> np.ndarray:
    """1×W boolean mask with columns [c0, c1) set."""
    m = np.zeros(SIZE, dtype=bool)
    m[0, c0:c1] = True
    return m


def frame(*dets: tuple[np.ndarray, float], static: tuple[bool, ...] = (), labels: tuple[int, ...] = ()):
    """FrameDetections from (mask, score) pairs."""
    if not dets:
        return FrameDetections.empty(SIZE)
    return FrameDetections(
        masks=np.stack([m for m, _ in dets]),
        scores=[s for _, s in dets],
        labels=list(labels) or None,
        is_static=list(static) or None,
    )


def frames_present(vi, k: int) -> list[int]:
    """Positions (0…T−1) of the frames where track k has a mask."""
    return [t for t, rle in enumerate(vi.masks[k]) if rle is not None]


def mask_at(vi, k: int, t: int) -> np.ndarray:
    return decode_mask(vi.masks[k][t]).astype(bool)


A = bar(0, 55)  # reference object


def test_exact_iou_fixtures():
    # the IoU boundary cases below rely on these exact pixel ratios

    def iou(a, b):
        return iou_matrix([to_coco_rle(encode_mask(a))], [to_coco_rle(encode_mask(b))])[0, 0]

    assert iou(A, bar(45, 100)) == 0.1  # 10 / 100
    assert iou(A, bar(44, 100)) == pytest.approx(0.11)  # 11 / 100
    assert iou(A, bar(46, 100)) == pytest.approx(9 / 100)


def test_two_translating_objects_keep_stable_ids():
    T = 6
    frames = [frame((bar(2 * t, 2 * t + 20), 0.97), (bar(60 + 3 * t, 80 + 3 * t), 0.95)) for t in range(T)]
    vi = MaskIoUTracker()(frames, frame_idx=[10 + t for t in range(T)])
    assert vi.track_ids == [1, 2]
    assert vi.frame_idx == list(range(10, 10 + T))
    assert vi.image_size == SIZE
    for t in range(T):
        np.testing.assert_array_equal(mask_at(vi, 0, t), bar(2 * t, 2 * t + 20))
        np.testing.assert_array_equal(mask_at(vi, 1, t), bar(60 + 3 * t, 80 + 3 * t))
    assert vi.scores == pytest.approx([0.97, 0.95])


@pytest.mark.parametrize("score, n_tracks", [(0.9, 0), (0.8, 0), (0.9001, 1)])
def test_score_init_is_strict(score, n_tracks):
    vi = MaskIoUTracker()([frame((A, score)) for _ in range(4)])
    assert len(vi) == n_tracks
    if n_tracks:
        assert frames_present(vi, 0) == [0, 1, 2, 3]


@pytest.mark.parametrize("score, linked", [(0.7, False), (0.7001, True)])
def test_score_continue_drops_at_threshold(score, linked):
    vi = MaskIoUTracker()([frame((A, 0.95)), frame((A, score)), frame((A, 0.95))])
    assert len(vi) == 1
    assert frames_present(vi, 0) == ([0, 1, 2] if linked else [0, 2])


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("other, linked", [(bar(45, 100), False), (bar(44, 100), True)])
def test_iou_min_is_strict(other, linked, bidirectional):
    vi = MaskIoUTracker(bidirectional=bidirectional)([frame((A, 0.95)), frame((other, 0.8))])
    assert len(vi) == 1  # the 0.8 detection can never start a track
    assert frames_present(vi, 0) == ([0, 1] if linked else [0])


@pytest.mark.parametrize("gap, reappear_score, expected", [
    (10, 0.8, [[0, 10]]),  # 9 missed frames: bridged
    (11, 0.8, [[0]]),  # 10 missed frames: not bridged, and 0.8 cannot start a track
    (11, 0.95, [[0], [11]]),  # not bridged: the re-appearance starts a new track
])
def test_forward_gap(gap, reappear_score, expected):
    frames = [frame() for _ in range(gap + 1)]
    frames[0] = frame((A, 0.95))
    frames[gap] = frame((A, reappear_score))
    for bidirectional in (False, True):
        vi = MaskIoUTracker(bidirectional=bidirectional)(frames)
        assert [frames_present(vi, k) for k in range(len(vi))] == expected


def test_frames_skip_max_is_configurable():
    frames = [frame((A, 0.95)), frame(), frame(), frame((A, 0.8))]
    assert frames_present(MaskIoUTracker(frames_skip_max=3)(frames), 0) == [0, 3]
    assert frames_present(MaskIoUTracker(frames_skip_max=2)(frames), 0) == [0]


def test_backward_pass_extends_track_to_earlier_frames():
    T = 9
    frames = [frame((bar(t, t + 40), 0.8 if t < 5 else 0.95)) for t in range(T)]
    forward_only = MaskIoUTracker(bidirectional=False)(frames)
    assert len(forward_only) == 1 and frames_present(forward_only, 0) == list(range(5, T))
    both = MaskIoUTracker(bidirectional=True)(frames)
    assert len(both) == 1 and frames_present(both, 0) == list(range(T))
    for t in range(T):
        np.testing.assert_array_equal(mask_at(both, 0, t), bar(t, t + 40))
    assert both.scores[0] == pytest.approx((5 * 0.8 + 4 * 0.95) / T)


@pytest.mark.parametrize("early, expected", [(0, [10, 11, 12]), (1, [1, 10, 11, 12])])
def test_backward_gap_is_one_frame_stricter(early, expected):
    # the track starts (forward) at frame 10; a 0.8 detection at `early` is reachable backwards only if 10 - early < 10
    frames = [frame() for _ in range(13)]
    frames[early] = frame((A, 0.8))
    for t in (10, 11, 12):
        frames[t] = frame((A, 0.95))
    vi = MaskIoUTracker()(frames)
    assert len(vi) == 1 and frames_present(vi, 0) == expected


def test_backward_pass_links_through_the_nearest_later_detection():
    # frames 3 and 8 form a track (IoU 10/30); the 0.8 detection at frame 5 overlaps frame 3 by 2/48 only (no forward
    # link) but frame 8 by 12/38, so the backward pass fills the interior frame
    frames = [frame() for _ in range(10)]
    frames[3], frames[5], frames[8] = frame((bar(0, 20), 0.95)), frame((bar(18, 48), 0.8)), frame((bar(10, 30), 0.8))
    assert frames_present(MaskIoUTracker(bidirectional=False)(frames), 0) == [3, 8]
    vi = MaskIoUTracker()(frames)
    assert len(vi) == 1 and frames_present(vi, 0) == [3, 5, 8]
    np.testing.assert_array_equal(mask_at(vi, 0, 5), bar(18, 48))


def _static_case(overlap_mask: np.ndarray, moving_score: float = 0.95):
    """Track 1 starts on S at frame 0. At frame 1 a moving detection `overlap_mask` and a static detection of S
    appear; the static one continues track 1 only if it survives the static-overlap removal."""
    S = bar(0, 55)
    frames = [
        frame((S, 0.95)),
        frame((overlap_mask, moving_score), (S, 0.8), static=(False, True)),
    ]
    return MaskIoUTracker()(frames)


@pytest.mark.parametrize("moving_mask, removed", [
    (bar(45, 100), True),  # IoU(static, moving) = 0.10 >= 0.1: removed
    (bar(46, 100), False),  # IoU = 0.09: kept
])
def test_static_detection_suppressed_by_moving_one(moving_mask, removed):
    vi = _static_case(moving_mask)
    assert frames_present(vi, 0) == ([0] if removed else [0, 1])
    # the moving detection never links to track 1 (IoU with S <= 0.1) and starts its own track
    assert len(vi) == 2 and frames_present(vi, 1) == [1]


def test_only_moving_detections_above_score_continue_suppress_statics():
    vi = _static_case(bar(45, 100), moving_score=0.7)  # the moving detection is dropped, so it suppresses nothing
    assert len(vi) == 1 and frames_present(vi, 0) == [0, 1]


def test_static_detections_only_continue_tracks():
    T = 8
    moving = [frame((bar(t, t + 30), 0.95)) for t in range(4)]
    stopped = [frame((bar(4, 34), 0.99), static=(True,)) for _ in range(4, T)]
    vi = MaskIoUTracker()(moving + stopped)
    assert len(vi) == 1 and frames_present(vi, 0) == list(range(T))
    never_moving = [frame((A, 0.99), static=(True,)) for _ in range(T)]
    assert len(MaskIoUTracker()(never_moving)) == 0


def test_hungarian_beats_greedy():
    # IoU(a,x)=9/11, IoU(a,y)=7/13, IoU(b,x)=8/12, IoU(b,y)=4/16: greedy (a-x, b-y) sums 1.068, optimal (a-y, b-x) 1.205
    a, b, x, y = bar(11, 21), bar(8, 18), bar(10, 20), bar(14, 24)
    vi = MaskIoUTracker()([frame((a, 0.96), (b, 0.95)), frame((x, 0.95), (y, 0.94))])
    assert len(vi) == 2
    np.testing.assert_array_equal(mask_at(vi, 0, 0), a)
    np.testing.assert_array_equal(mask_at(vi, 0, 1), y)
    np.testing.assert_array_equal(mask_at(vi, 1, 1), x)


def test_recently_seen_tracks_match_first():
    # Q last seen at frame 0, P at frame 2; D (frame 3) overlaps Q more (5/14) than P (2/17) but P wins
    Q, P, D = bar(0, 10), bar(12, 22), bar(5, 14)
    frames = [frame((Q, 0.95)), frame(), frame((P, 0.95)), frame((D, 0.8))]
    vi = MaskIoUTracker(bidirectional=False)(frames)
    assert [frames_present(vi, k) for k in range(len(vi))] == [[0], [2, 3]]
    np.testing.assert_array_equal(mask_at(vi, 1, 3), D)


def test_track_score_label_and_min_length():
    frames = [
        frame((A, 0.95), (bar(80, 110), 0.99), labels=(1, 0)),
        frame((A, 0.8), labels=(2,)),
        frame((A, 0.8), labels=(2,)),
    ]
    vi = MaskIoUTracker()(frames)
    # creation order follows score within a frame: the 0.99 detection starts track 1
    assert vi.track_ids == [1, 2]
    assert vi.scores == pytest.approx([0.99, (0.95 + 0.8 + 0.8) / 3])
    assert vi.labels == [0, 2]  # class 2 carries 1.6 of score mass against 0.95 for class 1
    vi = MaskIoUTracker(min_track_length=2)(frames)
    assert vi.track_ids == [1] and vi.labels == [2] and frames_present(vi, 0) == [0, 1, 2]


def test_label_tie_goes_to_smaller_class():
    vi = MaskIoUTracker()([frame((A, 0.95), labels=(4,)), frame((A, 0.95), labels=(3,))])
    assert vi.labels == [3]


def test_empty_video_gives_empty_instances():
    vi = MaskIoUTracker()([frame(), frame()], frame_idx=[3, 7])
    assert len(vi) == 0 and vi.image_size == SIZE and vi.frame_idx == [3, 7]
