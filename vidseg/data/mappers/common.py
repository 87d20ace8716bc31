"""Helpers shared by the vidseg mappers: frame sampling and reading, per-clip object tables, ``Instances``.

Model-input contract (``docs/architecture.md``): every frame's ``Instances`` holds the SAME K objects of the clip in
the same order; ``gt_ids`` is -1 (and the mask/box zero) where an object is absent in that frame.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.structures import BitMasks, Instances

from vidseg.data.io.image import read_image

from ..transforms import ClipAugmentation
from vidseg.structures.masks import decode_mask, segm_to_rle


def record_name(record: dict) -> str:
    """A short identification of a record for error messages."""
    return f"video {record.get('video_id', record.get('image_id', '?'))} of {record.get('dataset_name', 'a dataset')}"


def require_keys(record: dict, keys: Sequence[str], mapper: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise ValueError(f"{mapper}: {record_name(record)} lacks {missing} (expected the video record of §5)")


def annotated_frames(record: dict) -> list[int]:
    """Indices t with ``annotations[t] is not None`` (``[]`` = annotated and empty counts as annotated)."""
    return [t for t, annos in enumerate(record["annotations"]) if annos is not None]


def sample_clip_indices(
    candidates: Sequence[int], *, num_frames: int, sampling_range: int, shuffle: bool
) -> list[int]:
    """Pick a reference frame uniformly from ``candidates``, then ``num_frames - 1`` others among the candidates
    within ``±sampling_range`` of it: distinct frames while enough exist, else every frame of that window plus
    random repeats (a lone candidate is repeated). Sorted by time unless ``shuffle``. Uses ``np.random``."""
    if not candidates:
        raise ValueError("sample_clip_indices: no candidate frame")
    ref = int(candidates[np.random.randint(len(candidates))])
    window = [int(c) for c in candidates if c != ref and abs(c - ref) <= sampling_range]
    need = num_frames - 1
    if len(window) >= need:
        others = [int(i) for i in np.random.choice(window, need, replace=False)]
    else:
        others = window + [int(i) for i in np.random.choice([ref, *window], need - len(window))]
    idx = [ref, *others]
    return [idx[i] for i in np.random.permutation(len(idx))] if shuffle else sorted(idx)


def read_frame(record: dict, t: int, image_format: str) -> np.ndarray:
    """Read ``file_names[t]`` (H×W×3 uint8) and check it is record height×width."""
    path = record["file_names"][t]
    img = read_image(path, image_format)
    if img.shape[:2] != (int(record["height"]), int(record["width"])):
        raise ValueError(
            f"{path}: frame is {img.shape[1]}x{img.shape[0]} but the record says {record['width']}x{record['height']}"
        )
    return img


def read_augmented_frames(
    record: dict, indices: Sequence[int], *, augmentation: ClipAugmentation, image_format: str
) -> tuple[list[torch.Tensor], T.TransformList]:
    """Read the frames ``indices`` one at a time, drawing the clip's transforms once on the first.

    Returns:
        (images, transforms): T uint8 tensors 3×H'×W' and the TransformList applied to each of them.
    """
    first = read_frame(record, indices[0], image_format)
    tfm = augmentation.draw(first)
    images = [image_to_tensor(tfm.apply_image(first))]
    images += [image_to_tensor(tfm.apply_image(read_frame(record, t, image_format))) for t in indices[1:]]
    return images, tfm


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 -> 3×H×W uint8 tensor (contiguous)."""
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))


def decode_segmentation(anno: dict, height: int, width: int, where: str) -> np.ndarray:
    """RLE (any COCO form) or polygons -> H×W uint8 mask; ``where`` names the record in errors."""
    if "segmentation" not in anno:
        raise ValueError(f"{where}: annotation of object {anno.get('id', '?')} has no 'segmentation'")
    try:
        rle = segm_to_rle(anno["segmentation"], height, width)
    except ValueError as e:
        raise ValueError(f"{where}: object {anno.get('id', '?')}: {e}") from e
    if rle is None:
        return np.zeros((height, width), dtype=np.uint8)
    return decode_mask(rle)


def collect_objects(
    frame_annos: Sequence[Sequence[dict] | None], *, max_objects: int = 0, where: str = "clip"
) -> tuple[list, list]:
    """The clip's object set: the union of non-crowd object ids over the frames, in order of first appearance.

    Args:
        frame_annos: per sampled frame, the record's annotation list (or ``None``).
        max_objects: if > 0 and more objects exist, keep a random subset of this size (order preserved).
        where: names the record in errors.

    Returns:
        (ids, classes): K object ids and their contiguous category ids.
    """
    classes: dict = {}
    for annos in frame_annos:
        for a in annos or ():
            if "id" not in a or "category_id" not in a:
                raise ValueError(
                    f"{where}: annotation with keys {sorted(a)} lacks 'id' or 'category_id' (expected the record of §5)"
                )
            if not a.get("iscrowd", 0) and a["id"] not in classes:
                classes[a["id"]] = int(a["category_id"])
    ids = list(classes)
    if 0 < max_objects < len(ids):
        keep = np.sort(np.random.choice(len(ids), max_objects, replace=False))
        ids = [ids[i] for i in keep]
    return ids, [classes[i] for i in ids]


def frame_instances(
    annos: Sequence[dict] | None,
    *,
    object_ids: Sequence,
    object_classes: Sequence[int],
    transforms: T.Transform,
    src_size: tuple[int, int],
    out_size: tuple[int, int],
    where: str,
) -> Instances:
    """The ``Instances`` of one frame for the clip's K objects.

    Masks are decoded at ``src_size`` (H×W), transformed with ``transforms`` to ``out_size`` (H'×W'); an object
    absent from ``annos`` or left with an empty mask after the transform (e.g. cropped out) gets ``gt_ids = -1``
    and zero mask/box. Fields: gt_ids (K long), gt_classes (K long), gt_masks (BitMasks K×H'×W'),
    gt_boxes (Boxes K×4, XYXY from the transformed masks).
    """
    k = len(object_ids)
    slot = {oid: i for i, oid in enumerate(object_ids)}
    masks = np.zeros((k, *out_size), dtype=bool)
    for a in annos or ():
        i = slot.get(a["id"])
        if i is None or a.get("iscrowd", 0):
            continue
        mask = transforms.apply_segmentation(decode_segmentation(a, *src_size, where))
        masks[i] = mask.astype(bool)
    present = masks.any(axis=(1, 2))
    inst = Instances(out_size)
    inst.gt_ids = torch.tensor([oid if p else -1 for oid, p in zip(object_ids, present)], dtype=torch.long)
    inst.gt_classes = torch.tensor(list(object_classes), dtype=torch.long)
    inst.gt_masks = BitMasks(torch.from_numpy(masks))
    inst.gt_boxes = inst.gt_masks.get_bounding_boxes()
    return inst


def drop_invisible(instances: list[Instances]) -> list[Instances]:
    """Remove the objects whose ``gt_ids`` is -1 in every frame (e.g. cropped out of the whole clip)."""
    visible = torch.stack([inst.gt_ids >= 0 for inst in instances]).any(dim=0)
    return instances if bool(visible.all()) else [inst[visible] for inst in instances]


def map_clip(
    record: dict,
    indices: Sequence[int],
    *,
    augmentation: ClipAugmentation,
    image_format: str,
    max_objects: int = 0,
) -> tuple[dict, T.TransformList]:
    """Read, augment (one draw for the clip) and annotate the frames ``indices`` of a video record.

    Returns:
        (clip, transforms): the model-input dict — image (list[T] uint8 3×H'×W'), instances (list[T]
        Instances, the same K objects in every frame), frame_idx, video_id, height, width (original),
        length, dataset_name, file_names — and the clip's TransformList.
    """
    where = record_name(record)
    images, tfm = read_augmented_frames(record, indices, augmentation=augmentation, image_format=image_format)
    out_size = tuple(images[0].shape[1:])
    frame_annos = [record["annotations"][t] for t in indices]
    ids, classes = collect_objects(frame_annos, max_objects=max_objects, where=where)
    src = (int(record["height"]), int(record["width"]))
    instances = [
        frame_instances(
            annos,
            object_ids=ids,
            object_classes=classes,
            transforms=tfm,
            src_size=src,
            out_size=out_size,
            where=f"{where}, frame {t}",
        )
        for t, annos in zip(indices, frame_annos)
    ]
    out = video_fields(record, indices)
    out.update(image=images, instances=drop_invisible(instances))
    return out, tfm


def map_video(record: dict, *, augmentation: ClipAugmentation, image_format: str) -> tuple[dict, T.TransformList]:
    """All frames of a video, augmented with one draw (test time: a resize). No instances.

    Returns:
        (video, transforms): image (list[T] uint8 3×H'×W') + the identification fields, and the TransformList.
    """
    indices = list(range(len(record["file_names"])))
    if not indices:
        raise ValueError(f"{record_name(record)} has no frames (empty file_names)")
    images, tfm = read_augmented_frames(record, indices, augmentation=augmentation, image_format=image_format)
    out = video_fields(record, indices)
    out["image"] = images
    return out, tfm


def video_fields(record: dict, indices: Sequence[int]) -> dict:
    """The identification fields every mapper output carries."""
    return {
        "video_id": record.get("video_id"),
        "height": int(record["height"]),
        "width": int(record["width"]),
        "length": int(record.get("length", len(record["file_names"]))),
        "frame_idx": [int(t) for t in indices],
        "file_names": [record["file_names"][t] for t in indices],
        "dataset_name": record.get("dataset_name"),
    }
