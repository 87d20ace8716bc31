"""Small wrappers over pycocotools RLE operations."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pycocotools.mask as mask_util

# pycocotools 2.0.x ``area`` builds a temporary ``np.array((n,), dtype=uint8)``, which NumPy 2 refuses for n > 255
_AREA_CHUNK = 255


def rle_areas(rles: Sequence[dict]) -> np.ndarray:
    """Pixel counts (float64, shape (N,)) of N RLEs, in ``mask_util.area`` calls of at most 255 masks."""
    rles = list(rles)
    if not rles:
        return np.zeros(0)
    parts = [np.atleast_1d(mask_util.area(rles[i : i + _AREA_CHUNK])) for i in range(0, len(rles), _AREA_CHUNK)]
    return np.concatenate(parts).astype(np.float64)


def intersections(a: Sequence[dict], b: Sequence[dict], areas_a: np.ndarray | None = None) -> np.ndarray:
    """len(a)×len(b) exact pixel counts |a_i ∩ b_j| from one ``mask_util.iou`` call (crowd form I / area(a_i))."""
    a, b = list(a), list(b)
    if not a or not b:
        return np.zeros((len(a), len(b)))
    areas_a = rle_areas(a) if areas_a is None else np.asarray(areas_a, dtype=np.float64)
    ioa = np.asarray(mask_util.iou(a, b, [1] * len(b)), dtype=np.float64).reshape(len(a), len(b))
    return np.rint(ioa * areas_a[:, None])


def make_disjoint(rles: Sequence[dict], scores: Sequence[float]) -> list[tuple[int, dict]]:
    """Resolve overlaps as painting in ascending ``scores`` does (a higher score, or a later index among equal
    scores, keeps shared pixels). Returns (index, RLE) of the masks that keep pixels; unchanged RLEs when the
    masks are already disjoint (checked with one ``mask_util.iou`` call)."""
    rles = list(rles)
    if len(rles) < 2:
        return list(enumerate(rles))
    iou = np.asarray(mask_util.iou(rles, rles, [0] * len(rles))).reshape(len(rles), len(rles))
    np.fill_diagonal(iou, 0)
    if not (iou > 0).any():
        return list(enumerate(rles))
    masks = mask_util.decode(rles)  # H×W×N
    owner = np.full(masks.shape[:2], -1, dtype=np.int64)
    for k in np.argsort(np.asarray(scores, dtype=float), kind="stable"):
        owner[masks[:, :, k] > 0] = k
    out = []
    for k in range(len(rles)):
        visible = owner == k
        if visible.any():
            enc = mask_util.encode(np.asfortranarray(visible.astype(np.uint8)))
            enc["counts"] = enc["counts"].decode("ascii")
            out.append((k, enc))
    return out
