"""COCO RLE helpers on top of :func:`vidseg.structures.video_instances.encode_mask` / ``decode_mask``.

Every RLE produced here is compressed with ``counts`` as ``str`` (json-ready), the form of the video record.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pycocotools.mask as mask_util

from vidseg.structures.video_instances import RLE, decode_mask, encode_mask


def _str_counts(rle: dict) -> RLE:
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def to_compressed_rle(segm: object, height: int, width: int) -> RLE | None:
    """Convert one COCO-style segmentation to a compressed RLE (str counts).

    Args:
        segm: polygon list ``[[x0, y0, x1, y1, ...], ...]``, uncompressed RLE ``{"size", "counts": list}``,
            compressed RLE (bytes or str counts), or ``None``.
        height, width: image size, used for polygons.

    Returns:
        The RLE, or ``None`` when ``segm`` is ``None``.

    Raises:
        ValueError: unknown segmentation type or a size different from (height, width).
    """
    if segm is None:
        return None
    if isinstance(segm, list):  # polygons
        polys = [p for p in segm if len(p) >= 6]
        if not polys:
            return encode_mask(np.zeros((height, width), dtype=np.uint8))
        return _str_counts(mask_util.merge(mask_util.frPyObjects(polys, height, width)))
    if isinstance(segm, dict) and "counts" in segm and "size" in segm:
        if [int(s) for s in segm["size"]] != [int(height), int(width)]:
            raise ValueError(f"RLE size {list(segm['size'])} differs from the image size {[height, width]}")
        if isinstance(segm["counts"], list):
            return _str_counts(mask_util.frPyObjects(segm, height, width))
        return _str_counts(segm)
    raise ValueError(f"unsupported segmentation of type {type(segm).__name__} (expected polygons, RLE or null)")


def uncompressed_to_rles(segms: Sequence[dict], height: int, width: int) -> list[RLE]:
    """Vectorised conversion of many uncompressed RLEs (``counts`` lists) of one image size to compressed RLEs."""
    if not segms:
        return []
    return [_str_counts(r) for r in mask_util.frPyObjects(list(segms), height, width)]


def masks_to_rles(masks: np.ndarray) -> list[RLE]:
    """N×H×W binary masks -> N compressed RLEs (one pycocotools call)."""
    masks = np.asarray(masks, dtype=np.uint8)
    if masks.ndim != 3:
        raise ValueError(f"masks_to_rles: masks must be N×H×W, got shape {masks.shape}")
    if masks.shape[0] == 0:
        return []
    rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0)))
    return [_str_counts(r) for r in rles]


def rles_to_masks(rles: Sequence[RLE], height: int, width: int) -> np.ndarray:
    """N RLEs -> N×H×W uint8 masks (an empty list gives a 0×H×W array)."""
    if not rles:
        return np.zeros((0, height, width), dtype=np.uint8)
    return np.stack([decode_mask(r) for r in rles])
