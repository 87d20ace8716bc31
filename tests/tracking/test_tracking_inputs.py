"""FrameDetections normalisation and build_tracker(cfg)."""
from __future__ import annotations

import numpy as np
import pytest

from vidseg.config import get_cfg
from vidseg.tracking import FrameDetections, MaskIoUTracker, build_tracker
from vidseg.structures.masks import decode_mask, encode_mask


def _masks(n: int, h: int = 6, w: int = 9) -> np.ndarray:
    rng = np.random.default_rng(n)
    return rng.random((n, h, w)) > 0.5


def test_dense_and_rle_inputs_agree():
    dense = _masks(3)
    a = FrameDetections(masks=dense, scores=[0.9, 0.8, 0.7])
    b = FrameDetections(masks=[encode_mask(m) for m in dense], scores=np.array([0.9, 0.8, 0.7]))
    assert a.image_size == b.image_size == (6, 9)
    assert len(a) == len(b) == 3
    for ra, rb, m in zip(a.rles, b.rles, dense):
        assert isinstance(ra["counts"], bytes) and ra["counts"] == rb["counts"]
        np.testing.assert_array_equal(decode_mask(ra).astype(bool), m)
    np.testing.assert_array_equal(a.labels, [-1, -1, -1])
    np.testing.assert_array_equal(a.is_static, [False, False, False])


def test_uncompressed_rle_is_accepted():
    m = _masks(1)[0]
    flat = m.flatten(order="F").astype(np.uint8)
    counts, cur, run = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(run)
            cur, run = v, 0
        run += 1
    counts.append(run)
    det = FrameDetections(masks=[{"size": list(m.shape), "counts": counts}], scores=[0.5])
    np.testing.assert_array_equal(decode_mask(det.rles[0]).astype(bool), m)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="image_size is required"):
        FrameDetections(masks=[], scores=[])
    with pytest.raises(ValueError, match="scores: expected 2"):
        FrameDetections(masks=_masks(2), scores=[0.5])
    with pytest.raises(ValueError, match="N×H×W"):
        FrameDetections(masks=np.zeros((4, 4), bool), scores=[])
    with pytest.raises(ValueError, match="image_size"):
        FrameDetections(masks=_masks(1), scores=[0.5], image_size=(5, 5))
    with pytest.raises(ValueError, match="different image sizes"):
        MaskIoUTracker()([FrameDetections.empty((4, 4)), FrameDetections.empty((5, 5))])
    with pytest.raises(ValueError, match="0 frames"):
        MaskIoUTracker()([])
    with pytest.raises(ValueError, match="frame_idx"):
        MaskIoUTracker()([FrameDetections.empty((4, 4))], frame_idx=[0, 1])


def test_empty_dense_array_keeps_its_size():
    det = FrameDetections(masks=np.zeros((0, 7, 5), bool), scores=[])
    assert det.image_size == (7, 5) and len(det) == 0


def test_build_tracker_reads_cfg():
    cfg = get_cfg()
    cfg.MODEL.TRACKER.SCORE_INIT = 0.5
    cfg.MODEL.TRACKER.SCORE_CONTINUE = 0.2
    cfg.MODEL.TRACKER.IOU_MIN = 0.3
    cfg.MODEL.TRACKER.FRAMES_SKIP_MAX = 4
    cfg.MODEL.TRACKER.BIDIRECTIONAL = False
    cfg.MODEL.TRACKER.STATIC_OVERLAP_REMOVE = 0.6
    cfg.MODEL.TRACKER.MIN_TRACK_LENGTH = 3
    tracker = build_tracker(cfg)
    assert isinstance(tracker, MaskIoUTracker)
    assert (tracker.score_init, tracker.score_continue, tracker.iou_min) == (0.5, 0.2, 0.3)
    assert (tracker.frames_skip_max, tracker.bidirectional) == (4, False)
    assert (tracker.static_overlap_remove, tracker.min_track_length) == (0.6, 3)
    # behaviour follows: a 0.6 detection now starts a track, kept only with >= 3 detections
    m = np.zeros((1, 4, 4), bool)
    m[0, :2, :2] = True
    dets = [FrameDetections(masks=m, scores=[0.6]) for _ in range(3)]
    assert len(tracker(dets)) == 1 and len(tracker(dets[:2])) == 0


def test_build_tracker_unknown_name():
    cfg = get_cfg()
    cfg.MODEL.TRACKER.NAME = "NoSuchTracker"
    with pytest.raises(ValueError, match="MODEL.TRACKER.NAME"):
        build_tracker(cfg)
