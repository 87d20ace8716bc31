"""MOTSClipMapper (the ``mots_clip`` mapper): KITTI-MOTS ignore regions masked out of training images.

Fixture: ``tests/fixtures/kitti_mots/tree`` (official txt + png layout, see its ``make_tree.py``): a car, a
pedestrian and a 4×4 ignore region (rows 0-3, columns 12-15) on 12×16 frames.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from mapper_testutils import small_cfg

from vidseg.data.datasets.kitti_mots import load_kitti_mots
from vidseg.data.mappers import MOTSClipMapper, VideoClipMapper
from vidseg.registry import MAPPER_REGISTRY

TREE = Path(__file__).resolve().parents[1] / "fixtures" / "kitti_mots" / "tree"


def _record():
    (rec,) = load_kitti_mots(TREE, sequences=["0000"])
    return rec


def _cfg(**kw):
    return small_cfg(**{"INPUT.CLIP.NUM_FRAMES": 2, "INPUT.CLIP.SAMPLING_RANGE": 1, **kw})


def test_ignore_pixels_set_to_pixel_mean_and_rest_untouched():
    cfg = _cfg()
    rec = _record()
    clip = MAPPER_REGISTRY.get("MOTSClipMapper")(cfg, True)(rec)
    plain = VideoClipMapper(cfg, True)(rec)
    fill = torch.tensor([104, 116, 124], dtype=torch.uint8)  # round(PIXEL_MEAN), BGR like the frames
    assert clip["frame_idx"] == plain["frame_idx"] == [0, 1]
    for image, ref, ignore in zip(clip["image"], plain["image"], clip["ignore"]):
        expected = torch.zeros(12, 16, dtype=torch.bool)
        expected[0:4, 12:16] = True
        assert torch.equal(ignore, expected)
        assert (image[:, expected] == fill[:, None]).all()
        assert torch.equal(image[:, ~expected], ref[:, ~expected])
        assert (ref[:, expected] == 255).all()  # the fixture paints the ignore region white
    inst = clip["instances"][1]
    assert sorted(inst.gt_ids.tolist()) == [1001, 2001]  # the ignore region is no object
    assert sorted(inst.gt_classes.tolist()) == [0, 1]
    car = inst.gt_masks.tensor[inst.gt_ids.tolist().index(1001)]
    assert int(car.sum()) == 20 and bool(car[2:6, 3:8].all())


def test_ignore_region_follows_the_clip_transform():
    cfg = _cfg(**{"INPUT.MIN_SIZE_TRAIN": (24,), "INPUT.MAX_SIZE_TRAIN": 1000})
    clip = MOTSClipMapper(cfg, True)(_record())
    for image, ignore in zip(clip["image"], clip["ignore"]):
        assert tuple(image.shape[1:]) == (24, 32)
        assert int(ignore.sum()) == 64 and bool(ignore[0:8, 24:32].all())
        assert (image[:, ignore] == torch.tensor([104, 116, 124], dtype=torch.uint8)[:, None]).all()


def test_record_without_ignore_regions_equals_video_clip_mapper():
    cfg = _cfg()
    rec = dict(_record(), ignore=[None, None])
    clip, plain = MOTSClipMapper(cfg, True)(rec), VideoClipMapper(cfg, True)(rec)
    assert all(torch.equal(a, b) for a, b in zip(clip["image"], plain["image"]))
    assert not any(bool(m.any()) for m in clip["ignore"])


def test_bad_ignore_length_and_pixel_mean_are_named():
    rec = dict(_record(), ignore=[None])
    with pytest.raises(ValueError, match="1 ignore entries for 2 frames"):
        MOTSClipMapper(_cfg(), True)(rec)
    cfg = _cfg()
    cfg.MODEL.PIXEL_MEAN = [1.0, 2.0]
    with pytest.raises(ValueError, match="MODEL.PIXEL_MEAN"):
        MOTSClipMapper(cfg, True)
    assert np.array_equal(MOTSClipMapper(_cfg(), True).fill.view(-1).numpy(), [104, 116, 124])
