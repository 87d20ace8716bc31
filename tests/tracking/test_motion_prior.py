"""Motion priors and cost terms (issue 9): hand-computed predictions, costs, and a crossing a prior disambiguates."""
from __future__ import annotations

import numpy as np
import pytest

from vidseg.config import get_cfg
from vidseg.registry import COST_TERM_REGISTRY, MOTION_PRIOR_REGISTRY
from vidseg.structures.masks import encode_mask
from vidseg.tracking import FrameDetections, MaskIoUTracker, Side, TrackHistory, assign, build_motion_prior, \
    build_tracker, evaluate_terms
from vidseg.tracking.motion import CopyLastPrior, LinearPrior, NoMotionPrior, shift_mask

H, W = 20, 60


def square(x: int, y: int = 5, size: int = 10) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y : y + size, max(x, 0) : max(x + size, 0)] = True
    return m


def history(*xs_frames) -> TrackHistory:
    h = TrackHistory(maxlen=4)
    for f, x in xs_frames:
        h.append(f, encode_mask(square(x)))
    return h


def test_registries_hold_the_shipped_members():
    assert {"none", "copy_last", "linear"} <= {k for k, _ in MOTION_PRIOR_REGISTRY}
    assert {"mask_iou", "motion", "embedding", "soft_mask_iou"} <= {k for k, _ in COST_TERM_REGISTRY}


def test_priors_predict_hand_computed_masks():
    h = history((0, 0), (1, 6))  # velocity +6 px / frame
    assert NoMotionPrior().predict([h], 2) == [None]
    np.testing.assert_array_equal(CopyLastPrior().predict([h], 2)[0], square(6))
    np.testing.assert_array_equal(LinearPrior().predict([h], 2)[0], square(12))
    np.testing.assert_array_equal(LinearPrior().predict([h], 4)[0], square(24))  # 3 frames ahead
    gap = history((0, 0), (3, 12))  # 12 px over 3 frames: 4 px / frame
    np.testing.assert_array_equal(LinearPrior().predict([gap], 4)[0], square(16))
    one = history((5, 30))  # a single past mask: the last mask
    np.testing.assert_array_equal(LinearPrior().predict([one], 6)[0], square(30))


def test_shift_mask_drops_what_leaves_the_frame():
    m = square(50)
    out = shift_mask(m, 0, 5)
    assert out.sum() == 5 * 10 and out[5:15, 55:60].all()
    assert not shift_mask(m, 0, 100).any() and not shift_mask(m, -30, 0).any()
    np.testing.assert_array_equal(shift_mask(shift_mask(square(20), 3, -4), -3, 4), square(20))


def test_history_is_bounded_and_ordered():
    h = TrackHistory(maxlen=2)
    for f in range(5):
        h.append(f, encode_mask(square(f)))
    assert list(h.frames) == [3, 4] and h.dense().shape == (2, H, W)
    with pytest.raises(ValueError, match="not after"):
        h.append(4, encode_mask(square(0)))


def test_cost_terms_match_hand_computed_values():
    a, b = encode_mask(square(0)), encode_mask(square(6))  # overlap 4×10 = 40 px, union 160 px
    tracks = Side(size=2, masks=[a, b], predicted=[None, b], embeds=np.array([[1.0, 0.0], [0.0, 1.0]]))
    cands = Side(size=1, masks=[b], embeds=np.array([[1.0, 0.0]]))
    terms = evaluate_terms(["mask_iou", "motion", "embedding"], tracks, cands)
    np.testing.assert_allclose(terms["mask_iou"], [[-0.25], [-1.0]])
    np.testing.assert_allclose(terms["motion"], [[0.0], [-1.0]])  # no prediction -> no motion cost
    np.testing.assert_allclose(terms["embedding"], [[-1.0], [0.0]])
    with pytest.raises(ValueError, match="soft_masks"):
        evaluate_terms(["soft_mask_iou"], tracks, cands)
    with pytest.raises(ValueError, match="unknown tracker cost term"):
        evaluate_terms(["nope"], tracks, cands)


def test_assign_never_returns_inadmissible_pairs():
    cost = np.array([[0.1, 0.2], [0.0, 0.9]])
    assert assign(cost) == [(0, 1), (1, 0)]
    adm = np.array([[True, True], [False, True]])
    assert assign(cost, adm) == [(0, 0), (1, 1)]
    assert assign(cost, np.zeros((2, 2), bool)) == []


def crossing_frames() -> list[FrameDetections]:
    """Two identical squares moving towards each other (A: x = 0, 6, 12, 18; B: x = 30, 24, 18, 12), listed
    in the same order every frame except the last, where the last masks alone prefer the swapped link."""
    frames = []
    for t in range(4):
        a, b = square(6 * t), square(30 - 6 * t)
        frames.append(FrameDetections(masks=np.stack([a, b]), scores=[0.95, 0.95]))
    return frames


def test_a_motion_prior_changes_the_assignment_on_a_crossing():
    frames = crossing_frames()
    plain = MaskIoUTracker(bidirectional=False)
    ids_plain = [plain.update(t, f) for t, f in enumerate(frames)]
    assert ids_plain[:3] == [[1, 2]] * 3
    # at t = 3, A's last mask (x = 12) equals B's detection (x = 12): mask IoU alone swaps the identities
    assert ids_plain[3] == [2, 1]
    for name, expected in (("copy_last", [2, 1]), ("linear", [1, 2])):
        tracker = MaskIoUTracker(bidirectional=False, motion_prior=MOTION_PRIOR_REGISTRY.get(name)(),
                                 motion_weight=2.0)
        ids = [tracker.update(t, f) for t, f in enumerate(frames)]
        assert ids[3] == expected, name
    vi = tracker.finalize()
    assert len(vi) == 2 and vi.masks[0][3] is not None  # A's track ends on the detection at x = 18
    np.testing.assert_array_equal(vi.dense(0)[3].astype(bool), square(18))


def test_prior_none_leaves_the_tracker_unchanged_and_config_builds_priors():
    cfg = get_cfg()
    assert cfg.MODEL.MOTION_PRIOR.NAME == "none"
    tracker = build_tracker(cfg)
    assert isinstance(tracker.motion_prior, NoMotionPrior)
    cfg.MODEL.MOTION_PRIOR.NAME = "linear"
    cfg.MODEL.MOTION_PRIOR.WEIGHT = 2.0
    tracker = build_tracker(cfg)
    assert isinstance(tracker.motion_prior, LinearPrior) and tracker.motion_weight == 2.0
    assert tracker.motion_prior.history == cfg.MODEL.MOTION_PRIOR.HISTORY
    assert [tracker.update(t, f) for t, f in enumerate(crossing_frames())][3] == [1, 2]
    cfg.MODEL.MOTION_PRIOR.NAME = "nope"
    with pytest.raises(ValueError, match="MODEL.MOTION_PRIOR.NAME"):
        build_motion_prior(cfg)
