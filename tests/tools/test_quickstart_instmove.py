"""Evaluation step of ``make quickstart METHOD=instmove`` (tools/quickstart_instmove.py) on hand-built videos:
frame subsampling, the simulated detector, next-mask IoU of a prior, and the tracker metrics."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vidseg.config import load_config
from vidseg.structures.masks import decode_mask, encode_mask

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("vidseg_quickstart_instmove", ROOT / "tools" / "quickstart_instmove.py")
qi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qi)


def square(y: int, x: int, size: int = 4, h: int = 24, w: int = 32) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y : y + size, x : x + size] = True
    return m


def record_of(tracks: dict[int, list[np.ndarray | None]], video_id: int = 1) -> dict:
    """A YouTube-VIS-style record: {object id: per-frame mask or None}."""
    length = len(next(iter(tracks.values())))
    anns = [[{"id": k, "category_id": 1, "iscrowd": 0, "segmentation": encode_mask(ms[t])}
             for k, ms in tracks.items() if ms[t] is not None] for t in range(length)]
    return {"video_id": video_id, "file_names": [f"{t}.jpg" for t in range(length)], "height": 24, "width": 32,
            "length": length, "annotations": anns}


@pytest.fixture(scope="module")
def cfg():
    return load_config(str(ROOT / "configs" / "instmove" / "quickstart.yaml"))


def test_sub_record_keeps_every_nth_frame():
    rec = record_of({1: [square(0, t) for t in range(7)]})
    sub = qi.sub_record(rec, 3)
    assert sub["file_names"] == ["0.jpg", "3.jpg", "6.jpg"] and sub["length"] == 3
    frames = qi.gt_masks(sub)
    assert len(frames) == 3 and all(set(f) == {1} for f in frames)
    assert decode_mask(frames[1][1]).sum() == 16 and decode_mask(frames[1][1])[0, 3:7].all()


def test_simulated_detector_misses_at_the_given_rate():
    rec = record_of({1: [square(0, t % 28) for t in range(200)], 2: [square(10, t % 28) for t in range(200)]})
    frames = qi.gt_masks(rec)
    all_found = qi.simulated_detections(frames, (24, 32), 0.0, np.random.default_rng(0))
    assert [len(d.rles) for d in all_found] == [2] * 200
    some = qi.simulated_detections(frames, (24, 32), 0.25, np.random.default_rng(0))
    found = sum(len(d.rles) for d in some) / 400
    assert 0.68 < found < 0.82  # 0.75 expected
    assert all(list(d.scores) == [0.95] * len(d.rles) for d in some)


def test_next_mask_iou_of_copy_last_and_linear_by_hand(cfg):
    """A 4x4 square moving 2 px right per frame: copy-last overlaps the next mask on 2 of 4 columns
    (IoU 8 / 24 = 1/3); linear extrapolation is exact (IoU 1). Frames 2..5 are predicted (4 values)."""
    from vidseg.tracking.motion import build_motion_prior

    frames = qi.gt_masks(record_of({1: [square(5, 2 * t) for t in range(6)]}))
    c = cfg.clone()
    c.defrost()
    c.MODEL.MOTION_PRIOR.NAME = "copy_last"
    assert qi.next_mask_ious(build_motion_prior(c), frames) == pytest.approx([1 / 3] * 4)
    c.MODEL.MOTION_PRIOR.NAME = "linear"
    assert qi.next_mask_ious(build_motion_prior(c), frames) == pytest.approx([1.0] * 4)


def test_next_mask_iou_needs_two_consecutive_earlier_masks(cfg):
    from vidseg.tracking.motion import build_motion_prior

    masks = [square(5, 0), None, square(5, 2), square(5, 4), square(5, 6)]  # absent at frame 1
    c = cfg.clone()
    c.defrost()
    c.MODEL.MOTION_PRIOR.NAME = "copy_last"
    # frame 2: no earlier mask in its run (frame 1 is missing); frame 3: one (frame 2); frame 4: frames 2 and 3
    assert qi.next_mask_ious(build_motion_prior(c), qi.gt_masks(record_of({1: masks}))) == pytest.approx([1 / 3])


def test_tracking_metrics_perfect_and_with_a_swap(cfg):
    """Two far-apart squares detected on every frame: no switches, IDF1 1. The linear prior changes nothing."""
    rec = record_of({1: [square(2, 2 * t) for t in range(8)], 2: [square(16, 28 - 2 * t) for t in range(8)]})
    frames = qi.gt_masks(rec)
    videos = [(rec, frames, qi.simulated_detections(frames, (24, 32), 0.0, np.random.default_rng(0)))]
    none = qi.evaluate(cfg, "none", "", videos)
    assert none["IDs"] == 0 and none["IDF1"] == pytest.approx(1.0) and none["MOTA"] == pytest.approx(1.0)
    assert none["mIoU"] is None  # no prediction without a prior
    linear = qi.evaluate(cfg, "linear", "", videos)
    assert linear["IDs"] == 0 and linear["mIoU"] == pytest.approx(1.0)
