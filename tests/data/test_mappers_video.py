"""VOSClipMapper, VideoTestMapper, ImageToClipMapper and the pseudo-clip affine warp."""
import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from mapper_testutils import anno, block, coloured_objects_video, small_cfg, write_video

from vidseg.data.mappers import ImageToClipMapper, VideoTestMapper, VOSClipMapper
from vidseg.data.transforms import AffineTransform


def _late_object_video(tmp_path):
    """4 frames 20×30: object 1 from frame 0, object 2 appears at frame 2."""
    h, w = 20, 30
    a, b = block(h, w, 2, 2, 10, 10), block(h, w, 15, 8, 25, 18)
    annos = [[anno(1, 0, a)], [anno(1, 0, a)], [anno(1, 0, a), anno(2, 0, b)], [anno(2, 0, b)]]
    return write_video(tmp_path, [np.zeros((h, w, 3), np.uint8)] * 4, annos), a, b


def test_vos_train_first_frame_masks_and_late_objects(tmp_path):
    record, a, b = _late_object_video(tmp_path)
    mapper = VOSClipMapper(small_cfg(**{"INPUT.CLIP.NUM_FRAMES": 4, "INPUT.CLIP.SAMPLING_RANGE": 10}), is_train=True)
    clip = mapper(record)
    assert clip["frame_idx"] == [0, 1, 2, 3]
    insts = clip["instances"]
    assert [i.gt_ids.tolist() for i in insts] == [[1, -1], [1, -1], [1, 2], [-1, 2]]
    assert clip["vos_first_frame"].tolist() == [0, 2]
    torch.testing.assert_close(clip["vos_masks"], insts[0].gt_masks.tensor)
    np.testing.assert_array_equal(clip["vos_masks"][0].numpy(), a.astype(bool))
    assert not clip["vos_masks"][1].any()  # the late object has no first-frame mask
    np.testing.assert_array_equal(insts[2].gt_masks.tensor[1].numpy(), b.astype(bool))


def test_vos_train_first_frame_without_objects(tmp_path):
    record, _, _ = _late_object_video(tmp_path)
    record["annotations"][0] = []  # annotated, nothing to track from the first frame
    keys = {"INPUT.CLIP.NUM_FRAMES": 4, "INPUT.CLIP.SAMPLING_RANGE": 10}
    clip = VOSClipMapper(small_cfg(**keys), is_train=True)(record)
    assert clip["frame_idx"] == [0, 1, 2, 3] and not clip["vos_masks"].any()
    assert clip["vos_first_frame"].tolist() == [1, 2]
    assert VOSClipMapper(small_cfg(**keys, **{"INPUT.CLIP.SKIP_EMPTY": True}), is_train=True)(record) is None


def test_vos_test_init_masks_at_their_frames(tmp_path):
    record, a, b = _late_object_video(tmp_path)
    record["vos_init"] = {"0": [1], "2": [2]}  # json-style string keys are accepted
    record["annotations"][1] = record["annotations"][3] = None
    out = VOSClipMapper(small_cfg(**{"INPUT.MIN_SIZE_TEST": 40, "INPUT.MAX_SIZE_TEST": 1000}), is_train=False)(
        record
    )
    assert out["frame_idx"] == [0, 1, 2, 3] and len(out["image"]) == 4
    assert tuple(out["image"][0].shape) == (3, 40, 60)
    assert sorted(out["vos_init"]) == [0, 2]
    first, late = out["vos_init"][0], out["vos_init"][2]
    assert first.gt_ids.tolist() == [1] and late.gt_ids.tolist() == [2]
    expected = cv2.resize(b, (60, 40), interpolation=cv2.INTER_NEAREST).astype(bool)
    np.testing.assert_array_equal(late.gt_masks.tensor[0].numpy(), expected)
    assert late.gt_boxes.tensor.tolist() == [[30.0, 16.0, 50.0, 36.0]]

    del record["vos_init"]  # derived from first appearances when the record has none
    out2 = VOSClipMapper(small_cfg(), is_train=False)(record)
    assert {t: i.gt_ids.tolist() for t, i in out2["vos_init"].items()} == {0: [1], 2: [2]}

    record["vos_init"] = {1: [1]}
    with pytest.raises(ValueError, match="vos_init frame 1: no annotations"):
        VOSClipMapper(small_cfg(), is_train=False)(record)
    record["vos_init"] = {0: [2]}
    with pytest.raises(ValueError, match=r"objects \[2\] have no annotation"):
        VOSClipMapper(small_cfg(), is_train=False)(record)


def test_video_test_mapper_sizes(tmp_path):
    record, _ = coloured_objects_video(tmp_path)  # 6 frames of 40×60
    for min_size, max_size, expected in [(20, 1000, (20, 30)), (40, 45, (30, 45)), (0, 1000, (40, 60))]:
        out = VideoTestMapper(small_cfg(**{"INPUT.MIN_SIZE_TEST": min_size, "INPUT.MAX_SIZE_TEST": max_size}))(
            record
        )
        assert [tuple(i.shape) for i in out["image"]] == [(3, *expected)] * 6
        assert all(i.dtype == torch.uint8 for i in out["image"])
        assert out["frame_idx"] == list(range(6)) and out["file_names"] == record["file_names"]
        assert (out["height"], out["width"], out["video_id"]) == (40, 60, 1)
        assert "instances" not in out
    # native size: the pixels are the file's, in BGR order
    raw = cv2.imread(record["file_names"][0])
    np.testing.assert_array_equal(out["image"][0].permute(1, 2, 0).numpy(), raw)


def test_affine_warp_agrees_with_apply_coords():
    h, w = 31, 41
    img = np.zeros((h, w), np.uint8)
    img[5, 30] = 255
    tfm = AffineTransform(height=h, width=w, scale=1.0, angle=90.0, tx=2.0, ty=-1.0)
    (x, y), = tfm.apply_coords(np.array([[30.5, 5.5]]))  # centre of the lit pixel
    warped = tfm.apply_segmentation(img)
    assert warped[int(np.floor(y)), int(np.floor(x))] == 255 and warped.sum() == 255
    same = AffineTransform(height=h, width=w, scale=1.0, angle=0.0, tx=0.0, ty=0.0)
    np.testing.assert_array_equal(same.apply_image(img), img)


def _coco_record(tmp_path):
    h, w = 40, 60
    img = np.full((h, w, 3), 50, np.uint8)
    img[5:20, 5:20] = (0, 0, 255)
    img[22:36, 30:50] = (0, 255, 0)
    path = tmp_path / "img.png"
    cv2.imwrite(str(path), img)
    poly = [[5, 5, 20, 5, 20, 20, 5, 20]]
    rle = mask_util.encode(np.asfortranarray(block(h, w, 30, 22, 50, 36)))
    annos = [
        {"category_id": 3, "segmentation": poly, "iscrowd": 0, "bbox": [5, 5, 15, 15], "bbox_mode": 1},
        {"category_id": 0, "segmentation": poly, "iscrowd": 1, "bbox": [5, 5, 15, 15], "bbox_mode": 1},
        {"category_id": 1, "segmentation": rle, "iscrowd": 0, "bbox": [30, 22, 20, 14], "bbox_mode": 1},
    ]
    return {"file_name": str(path), "height": h, "width": w, "image_id": 17, "annotations": annos}


def test_image_to_clip_pseudo_clip(tmp_path):
    record = _coco_record(tmp_path)
    cfg = small_cfg(**{"INPUT.CLIP.NUM_FRAMES": 3, "INPUT.CLIP.PSEUDO_SCALE": (0.9, 1.1),
                       "INPUT.CLIP.PSEUDO_ROTATION": 5.0, "INPUT.CLIP.PSEUDO_TRANSLATION": 0.05,
                       "INPUT.MIN_SIZE_TRAIN": (30,), "INPUT.MAX_SIZE_TRAIN": 1000})
    mapper = ImageToClipMapper(cfg, is_train=True)
    colours = {0: (0, 0, 255), 2: (0, 255, 0)}
    for seed in range(5):
        np.random.seed(seed)
        clip = mapper(record)
        assert [tuple(i.shape) for i in clip["image"]] == [(3, 30, 45)] * 3
        assert clip["frame_idx"] == [0, 0, 0] and clip["video_id"] == 17 and (clip["height"], clip["width"]) == (40, 60)
        assert not torch.equal(clip["image"][0], clip["image"][1]), "frames get independent warps"
        for inst, image in zip(clip["instances"], clip["image"]):
            assert inst.gt_ids.tolist() == [0, 2]  # annotation indices; the crowd one is excluded
            assert inst.gt_classes.tolist() == [3, 1]
            for j, oid in enumerate(inst.gt_ids.tolist()):
                pix = image.permute(1, 2, 0).numpy()[inst.gt_masks.tensor[j].numpy()].astype(float)
                assert (np.abs(pix - colours[oid]).max(axis=1) < 60).mean() > 0.6


def test_image_to_clip_identity_warp_reproduces_image(tmp_path):
    record = _coco_record(tmp_path)
    cfg = small_cfg(**{"INPUT.CLIP.NUM_FRAMES": 2, "INPUT.CLIP.PSEUDO_SCALE": (1.0, 1.0),
                       "INPUT.CLIP.PSEUDO_ROTATION": 0.0, "INPUT.CLIP.PSEUDO_TRANSLATION": 0.0})
    clip = ImageToClipMapper(cfg, is_train=True)(record)
    raw = cv2.imread(record["file_name"])
    for image, inst in zip(clip["image"], clip["instances"]):
        np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), raw)
        assert inst.gt_boxes.tensor.tolist() == [[5.0, 5.0, 20.0, 20.0], [30.0, 22.0, 50.0, 36.0]]
    with pytest.raises(ValueError, match="training pseudo clips only"):
        ImageToClipMapper(cfg, is_train=False)
