"""VideoClipMapper: one transform per clip, ids aligned across frames, None vs [] frames, sampling range."""
import numpy as np
import pytest
import torch
from detectron2.data import transforms as T
from mapper_testutils import anno, block, coloured_objects_video, small_cfg, write_video

from vidseg.data.mappers import VideoClipMapper
from vidseg.data.mappers.common import sample_clip_indices
from vidseg.data.transforms import ClipAugmentation, build_clip_augmentations
from vidseg.registry import MAPPER_REGISTRY


def _marker_video(tmp_path, n=6):
    """A static yellow 4×4 marker near the top-left + a white square moving along the bottom-right."""
    h, w = 48, 64
    frames, annos = [], []
    for t in range(n):
        img = np.zeros((h, w, 3), dtype=np.uint8)
        img[8:12, 10:14] = (0, 255, 255)
        m = block(h, w, 30 + 3 * t, 30, 38 + 3 * t, 40)
        img[m > 0] = 255
        frames.append(img)
        annos.append([anno(1, 0, m)])
    return write_video(tmp_path, frames, annos)


def _yellow(image: torch.Tensor) -> np.ndarray:
    """Boolean H×W of the (BGR) yellow marker pixels: green and red high, blue low."""
    b, g, r = image.numpy().astype(int)
    return (g > 128) & (r > 128) & (b < 100)


def test_same_geometric_transform_on_every_frame(tmp_path):
    record = _marker_video(tmp_path)
    cfg = small_cfg(**{"INPUT.MIN_SIZE_TRAIN": (24, 36, 60), "INPUT.MAX_SIZE_TRAIN": 1000,
                       "INPUT.RANDOM_FLIP": "horizontal", "INPUT.CLIP.NUM_FRAMES": 4,
                       "INPUT.CLIP.CROP_ENABLED": True, "INPUT.CROP.TYPE": "relative_range",
                       "INPUT.CROP.SIZE": [0.7, 0.7]})
    mapper = VideoClipMapper(cfg, is_train=True)
    flips, sizes = set(), set()
    for seed in range(20):
        np.random.seed(seed)
        clip = mapper(record)
        shapes = {tuple(im.shape) for im in clip["image"]}
        assert len(shapes) == 1, f"seed {seed}: frames of one clip have different sizes {shapes}"
        markers = [_yellow(im) for im in clip["image"]]
        for m in markers[1:]:  # the static marker lands on the same pixels in every frame
            np.testing.assert_array_equal(m, markers[0], err_msg=f"seed {seed}")
        sizes.add(shapes.pop()[1:])
        if markers[0].any():
            xs = np.nonzero(markers[0])[1]
            flips.add(bool(xs.mean() > markers[0].shape[1] / 2))  # marker starts in the left half
        inst = clip["instances"]
        assert all(i.image_size == tuple(clip["image"][0].shape[1:]) for i in inst)
    assert flips == {True, False}, "20 seeds should draw both flipped and unflipped clips"
    assert len(sizes) >= 2, "20 seeds should draw several resize scales"


def test_flip_hits_all_frames_or_none(tmp_path):
    """Masks of the moving object in a flipped clip are the mirror of the unflipped ones, in every frame."""
    record = _marker_video(tmp_path)
    plain = VideoClipMapper(small_cfg(**{"INPUT.CLIP.NUM_FRAMES": 3}), is_train=True)
    flipped = VideoClipMapper(
        augmentation=ClipAugmentation(augmentations=[T.RandomFlip(prob=1.0)]),
        image_format="BGR", num_frames=3, sampling_range=20,
    )
    np.random.seed(3)
    a = plain(record)
    np.random.seed(3)
    b = flipped(record)
    assert a["frame_idx"] == b["frame_idx"]
    for ia, ib, xa, xb in zip(a["instances"], b["instances"], a["image"], b["image"]):
        torch.testing.assert_close(ib.gt_masks.tensor, ia.gt_masks.tensor.flip(-1))
        torch.testing.assert_close(xb, xa.flip(-1))
        w = ia.image_size[1]
        expected = ia.gt_boxes.tensor[:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + torch.tensor([w, 0, w, 0])
        torch.testing.assert_close(ib.gt_boxes.tensor, expected)


def test_ids_aligned_and_masks_on_their_object(tmp_path):
    record, colours = coloured_objects_video(tmp_path)
    mapper = VideoClipMapper(small_cfg(**{"INPUT.CLIP.NUM_FRAMES": 3, "INPUT.RANDOM_FLIP": "horizontal",
                                          "INPUT.MIN_SIZE_TRAIN": (20, 40, 80), "INPUT.MAX_SIZE_TRAIN": 1000}),
                             is_train=True)
    seen_empty_frame = False
    for seed in range(25):
        np.random.seed(seed)
        clip = mapper(record)
        assert 3 not in clip["frame_idx"], "frame 3 (annotations None) must never be sampled"
        insts = clip["instances"]
        k = len(insts[0])
        # the clip's object set: union of the non-crowd ids present in the sampled frames
        expected_ids = []
        for t in clip["frame_idx"]:
            for a in record["annotations"][t]:
                if not a["iscrowd"] and a["id"] not in expected_ids:
                    expected_ids.append(a["id"])
        assert k == len(expected_ids)
        slot_id = [max(int(i.gt_ids[j]) for i in insts) for j in range(k)]
        assert slot_id == expected_ids  # object order = first appearance; same index k in every frame
        for t, inst, image in zip(clip["frame_idx"], insts, clip["image"]):
            assert len(inst) == k
            present = {a["id"] for a in record["annotations"][t] if not a["iscrowd"]}
            seen_empty_frame |= t == 4
            for j in range(k):
                gid = int(inst.gt_ids[j])
                assert gid == (slot_id[j] if slot_id[j] in present else -1)
                assert int(inst.gt_classes[j]) == {5: 1, 7: 2}[slot_id[j]]
                mask = inst.gt_masks.tensor[j].numpy()
                if gid == -1:
                    assert not mask.any() and not inst.gt_boxes.tensor[j].any()
                    continue
                pix = image.permute(1, 2, 0).numpy()[mask].astype(float)
                inner = np.abs(pix - np.array(colours[gid])).max(axis=1) < 40
                assert inner.mean() > 0.6, "mask k must cover the pixels of object gt_ids[k]"
                ys, xs = np.nonzero(mask)
                box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
                np.testing.assert_allclose(inst.gt_boxes.tensor[j].numpy(), box)
    assert seen_empty_frame, "the annotated-but-empty frame 4 ([]) must be sampled sometimes"


def test_crop_removes_object_from_frame_and_clip(tmp_path):
    """An object cropped out of one frame is -1 there; one cropped out of every frame is not an object."""
    h, w = 40, 60
    inside0, outside1 = block(h, w, 2, 2, 8, 8), block(h, w, 30, 30, 36, 36)
    far = block(h, w, 40, 2, 50, 12)
    frames = [np.zeros((h, w, 3), np.uint8)] * 2
    annos = [[anno(1, 0, inside0), anno(2, 1, far)], [anno(1, 0, outside1), anno(2, 1, far)]]
    record = write_video(tmp_path, frames, annos)
    mapper = VideoClipMapper(
        augmentation=ClipAugmentation(augmentations=[T.CropTransform(0, 0, 20, 20)]),
        image_format="BGR", num_frames=2, sampling_range=5,
    )
    clip = mapper(record)
    assert clip["frame_idx"] == [0, 1]
    a, b = clip["instances"]
    assert a.image_size == (20, 20)
    assert a.gt_ids.tolist() == [1] and b.gt_ids.tolist() == [-1]
    assert a.gt_boxes.tensor.tolist() == [[2.0, 2.0, 8.0, 8.0]] and not b.gt_boxes.tensor.any()
    assert not b.gt_masks.tensor.any()


def test_empty_clip_kept_by_default_and_skipped_on_request(tmp_path):
    h, w = 20, 30
    record = write_video(tmp_path, [np.zeros((h, w, 3), np.uint8)] * 3, [[], None, []])
    clip = VideoClipMapper(small_cfg(), is_train=True)(record)
    assert len(clip["instances"]) == 2 and all(len(i) == 0 for i in clip["instances"])
    assert all(i.gt_masks.tensor.shape == (0, h, w) for i in clip["instances"])
    assert VideoClipMapper(small_cfg(**{"INPUT.CLIP.SKIP_EMPTY": True}), is_train=True)(record) is None


def test_sampling_range_sort_and_shuffle(tmp_path):
    n = 30
    frames = [np.zeros((8, 8, 3), np.uint8)] * n
    record = write_video(tmp_path, frames, [[]] * n)
    sorted_mapper = VideoClipMapper(small_cfg(**{"INPUT.CLIP.NUM_FRAMES": 3, "INPUT.CLIP.SAMPLING_RANGE": 2}),
                                    is_train=True)
    shuffled = VideoClipMapper(small_cfg(**{"INPUT.CLIP.NUM_FRAMES": 3, "INPUT.CLIP.SAMPLING_RANGE": 2,
                                            "INPUT.CLIP.SAMPLING_SHUFFLE": True}), is_train=True)
    unsorted = 0
    for seed in range(30):
        np.random.seed(seed)
        idx = sorted_mapper(record)["frame_idx"]
        assert idx == sorted(idx) and len(set(idx)) == 3 and idx[-1] - idx[0] <= 4
        # some frame is the reference: every other one lies within ±2 of it
        assert any(all(abs(i - r) <= 2 for i in idx) for r in idx)
        np.random.seed(seed)
        unsorted += shuffled(record)["frame_idx"] != idx
    assert unsorted > 0


def test_single_annotated_frame_repeats_and_errors(tmp_path):
    frames = [np.zeros((8, 8, 3), np.uint8)] * 3
    record = write_video(tmp_path, frames, [None, [anno(1, 0, block(8, 8, 1, 1, 4, 4))], None])
    clip = VideoClipMapper(small_cfg(**{"INPUT.CLIP.NUM_FRAMES": 2}), is_train=True)(record)
    assert clip["frame_idx"] == [1, 1]
    assert [i.gt_ids.tolist() for i in clip["instances"]] == [[1], [1]]
    record["annotations"] = [None, None, None]
    with pytest.raises(ValueError, match="no annotated frame"):
        VideoClipMapper(small_cfg(), is_train=True)(record)
    with pytest.raises(ValueError, match="training clips only"):
        VideoClipMapper(small_cfg(), is_train=False)


def test_registry_builds_every_mapper_from_cfg():
    cfg = small_cfg()
    for name in ("VideoClipMapper", "ImageToClipMapper", "VOSClipMapper", "FlowFrameMapper"):
        assert callable(MAPPER_REGISTRY.get(name)(cfg, True))
    for name in ("VideoTestMapper", "VOSClipMapper", "FlowFrameMapper"):
        assert callable(MAPPER_REGISTRY.get(name)(cfg, False))


def test_augmentation_list_from_cfg():
    cfg = small_cfg(**{"INPUT.MIN_SIZE_TRAIN": (360, 480), "INPUT.MIN_SIZE_TRAIN_SAMPLING": "choice_by_clip",
                       "INPUT.RANDOM_FLIP": "flip_by_clip", "INPUT.CLIP.CROP_ENABLED": True})
    augs = build_clip_augmentations(cfg, is_train=True)
    assert [type(a) for a in augs] == [T.ResizeShortestEdge, T.RandomCrop, T.RandomFlip]
    assert not augs[0].is_range and augs[2].horizontal
    assert build_clip_augmentations(small_cfg(), is_train=True) == []  # MIN_SIZE 0, no flip, no crop
    cfg.INPUT.RANDOM_FLIP = "sideways"
    with pytest.raises(ValueError, match="INPUT.RANDOM_FLIP='sideways'"):
        build_clip_augmentations(cfg, is_train=True)
    cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING = "sometimes"
    with pytest.raises(ValueError, match="INPUT.MIN_SIZE_TRAIN_SAMPLING='sometimes'"):
        build_clip_augmentations(cfg, is_train=True)


def test_annotation_without_id_names_the_video(tmp_path):
    record = write_video(tmp_path, [np.zeros((8, 8, 3), np.uint8)], [[{"category_id": 0, "segmentation": None}]])
    record["dataset_name"] = "toy"
    with pytest.raises(ValueError, match="video 1 of toy: annotation .* lacks 'id'"):
        VideoClipMapper(small_cfg(), is_train=True)(record)


def test_short_window_uses_every_frame_before_repeating():
    for seed in range(10):
        np.random.seed(seed)
        idx = sample_clip_indices([4, 5, 6], num_frames=5, sampling_range=3, shuffle=False)
        assert len(idx) == 5 and set(idx) == {4, 5, 6} and idx == sorted(idx)
