"""Flow under clip transforms (sign under flip, scale under resize) and FlowFrameMapper."""
import cv2
import numpy as np
import pytest
import torch
from detectron2.data import transforms as T
from mapper_testutils import anno, block, small_cfg, write_video

from vidseg.data.io.flo import write_flo
from vidseg.data.mappers import FlowFrameMapper
from vidseg.data.transforms import AffineTransform, ClipAugmentation, apply_flow


def _random_flow(h=12, w=16, seed=0):
    return np.random.default_rng(seed).normal(0, 3, size=(h, w, 2)).astype(np.float32)


def test_flow_hflip_mirrors_and_negates_u():
    flow = _random_flow()
    out = apply_flow(T.HFlipTransform(16), flow)
    expected = flow[:, ::-1].copy()
    expected[..., 0] *= -1
    np.testing.assert_array_equal(out, expected)


def test_flow_vflip_negates_v():
    flow = _random_flow()
    out = apply_flow(T.VFlipTransform(12), flow)
    expected = flow[::-1].copy()
    expected[..., 1] *= -1
    np.testing.assert_array_equal(out, expected)


def test_flow_resize_scales_vectors():
    flow = _random_flow()
    out = apply_flow(T.ResizeTransform(12, 16, 30, 24), flow)  # ×2.5 vertically, ×1.5 horizontally
    expected = cv2.resize(flow, (24, 30), interpolation=cv2.INTER_LINEAR) * np.array([24 / 16, 30 / 12])
    assert out.shape == (30, 24, 2)
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_flow_crop_keeps_vectors_and_list_composes():
    flow = _random_flow()
    tfm = T.TransformList([T.CropTransform(3, 2, 8, 6), T.HFlipTransform(8)])
    expected = flow[2:8, 3:11][:, ::-1].copy()
    expected[..., 0] *= -1
    np.testing.assert_array_equal(apply_flow(tfm, flow), expected)


def test_flow_matches_displacement_of_transformed_frames():
    """Physical check: a block translated by (u, v) between two frames; after the same resize+flip on both
    frames, the transformed flow equals the displacement of the transformed block's centre."""
    h, w, u, v = 40, 60, 6.0, -4.0
    m0, m1 = block(h, w, 10, 20, 20, 30), block(h, w, 16, 16, 26, 26)
    tfm = T.TransformList([T.ResizeTransform(h, w, 60, 90), T.HFlipTransform(90)])
    c0, c1 = [np.argwhere(tfm.apply_segmentation(m) > 0)[:, ::-1].mean(0) for m in (m0, m1)]
    flow = np.zeros((h, w, 2), np.float32)
    flow[...] = (u, v)
    out = apply_flow(tfm, flow)
    np.testing.assert_allclose(out[int(c0[1]), int(c0[0])], c1 - c0, atol=1e-4)
    np.testing.assert_allclose(c1 - c0, (-u * 1.5, v * 1.5), atol=1e-4)


def test_flow_under_rotation_rotates_vectors():
    flow = np.zeros((20, 20, 2), np.float32)
    flow[...] = (2.0, 0.0)
    out = apply_flow(AffineTransform(height=20, width=20, scale=1.0, angle=90.0, tx=0, ty=0), flow)
    np.testing.assert_allclose(out[10, 10], (0.0, -2.0), atol=1e-5)  # rightward motion becomes upward


def _flow_video(tmp_path, n=3, h=16, w=24):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    masks = [block(h, w, 2 + t, 3, 9 + t, 10) for t in range(n)]
    flows = [rng.normal(0, 2, (h, w, 2)).astype(np.float32) for _ in range(n - 1)] + [None]
    return write_video(tmp_path, frames, [[anno(4, 0, m)] for m in masks], flows=flows), flows


def test_flow_frame_mapper_train_flip_and_resize(tmp_path):
    record, flows = _flow_video(tmp_path)
    mapper = FlowFrameMapper(
        is_train=True,
        augmentation=ClipAugmentation(augmentations=[T.ResizeShortestEdge(32, 1000), T.RandomFlip(prob=1.0)]),
        image_format="BGR",
    )
    seen = set()
    for seed in range(12):
        np.random.seed(seed)
        out = mapper(record)
        (t,) = out["frame_idx"]
        seen.add(t)
        assert t in (0, 1), "frames with a flow file are preferred over the last frame"
        assert len(out["image"]) == len(out["flow"]) == len(out["instances"]) == 1
        assert out["image"][0].shape == (3, 32, 48) and out["flow"][0].shape == (2, 32, 48)
        expected = cv2.resize(flows[t], (48, 32), interpolation=cv2.INTER_LINEAR)[:, ::-1] * np.array([-2.0, 2.0])
        np.testing.assert_allclose(out["flow"][0].permute(1, 2, 0).numpy(), expected, atol=1e-4)
        assert out["instances"][0].gt_ids.tolist() == [4]
    assert seen == {0, 1}


def test_flow_frame_mapper_last_frame_without_flow(tmp_path):
    record, _ = _flow_video(tmp_path)
    record["annotations"] = [None, None, record["annotations"][2]]  # only the last frame is annotated
    out = FlowFrameMapper(small_cfg(), is_train=True)(record)
    assert out["frame_idx"] == [2] and out["flow"] == [None]


def test_flow_frame_mapper_test_whole_video(tmp_path):
    record, flows = _flow_video(tmp_path)
    out = FlowFrameMapper(small_cfg(**{"INPUT.MIN_SIZE_TEST": 8, "INPUT.MAX_SIZE_TEST": 1000}), is_train=False)(
        record
    )
    assert out["frame_idx"] == [0, 1, 2] and "instances" not in out
    assert out["flow"][2] is None
    expected = cv2.resize(flows[0], (12, 8), interpolation=cv2.INTER_LINEAR) * 0.5
    torch.testing.assert_close(out["flow"][0], torch.from_numpy(expected.transpose(2, 0, 1).copy()), atol=1e-4,
                               rtol=0)


def test_flow_size_mismatch_names_file(tmp_path):
    record, _ = _flow_video(tmp_path)
    write_flo(record["flow_file_names"][0], np.zeros((5, 5, 2), np.float32))
    record["annotations"] = [record["annotations"][0], None, None]
    with pytest.raises(ValueError, match=r"001_000\.flo: flow is 5x5 but frame .* is 24x16"):
        FlowFrameMapper(small_cfg(), is_train=True)(record)
