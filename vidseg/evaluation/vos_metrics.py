"""DAVIS region similarity J and boundary F-measure, and their Mean / Recall / Decay statistics.

Definitions follow the DAVIS 2017 toolkit (``davis2017/metrics.py``, ``davis2017/utils.py``):

- J = |M ∩ G| / |M ∪ G|, 1 when the union is empty.
- F: 1-pixel boundary maps (``seg2bmap``: a pixel is on the boundary when it differs from its right, bottom or
  bottom-right neighbour, with the toolkit's special last row / column), each dilated by a disk of radius
  ``ceil(0.008 · image diagonal)``; precision = |B_pred ∩ dil(B_gt)| / |B_pred|, recall =
  |B_gt ∩ dil(B_pred)| / |B_gt|; both boundaries empty -> 1, only one empty -> 0.
- Mean = nanmean, Recall = fraction of values > 0.5, Decay = mean of the first minus mean of the last of 4
  quantile bins (the toolkit's rounding of bin edges).

Boundaries and dilations are computed on a crop around the two masks (margin radius + 1), which gives exactly
the full-frame result: every boundary pixel lies inside the crop and the dilation is only read at boundary
pixels. Pure numpy + OpenCV, no per-pixel Python loops.
"""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

BOUND_TH = 0.008


def disk(radius: int) -> np.ndarray:
    """(2r+1)² uint8 disk ``x² + y² <= r²`` (the structuring element of ``skimage.morphology.disk``)."""
    r = int(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return ((xx * xx + yy * yy) <= r * r).astype(np.uint8)


def boundary_radius(height: int, width: int, bound_th: float = BOUND_TH) -> int:
    """Tolerance in pixels: ``bound_th`` itself when >= 1, else ``ceil(bound_th · sqrt(H² + W²))``."""
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(height, width)))


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """H×W bool boundary map of a binary mask (the DAVIS ``_seg2bmap`` at full resolution)."""
    seg = np.asarray(seg, dtype=bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def jaccard(gt: np.ndarray, pred: np.ndarray) -> float:
    """Region similarity of two H×W boolean masks (1 when both are empty)."""
    union = np.count_nonzero(gt | pred)
    if union == 0:
        return 1.0
    return np.count_nonzero(gt & pred) / union


def f_measure(gt: np.ndarray, pred: np.ndarray, *, radius: int, kernel: np.ndarray | None = None) -> float:
    """Boundary F of two H×W boolean masks with tolerance ``radius`` px (computed on a crop, see module doc)."""
    box_g, box_p = _bbox(gt), _bbox(pred)
    if box_g is None and box_p is None:
        return 1.0
    boxes = [b for b in (box_g, box_p) if b is not None]
    h, w = gt.shape
    m = radius + 1
    y0, x0 = max(0, min(b[0] for b in boxes) - m), max(0, min(b[2] for b in boxes) - m)
    y1, x1 = min(h, max(b[1] for b in boxes) + m), min(w, max(b[3] for b in boxes) + m)
    g, p = gt[y0:y1, x0:x1], pred[y0:y1, x0:x1]
    if g.strides[0] < g.strides[1]:  # column-major frames: work transposed (F is transpose-invariant)
        g, p = g.T, p.T
    bg = np.ascontiguousarray(seg2bmap(g))
    bp = np.ascontiguousarray(seg2bmap(p))
    n_gt, n_fg = np.count_nonzero(bg), np.count_nonzero(bp)
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0
    k = disk(radius) if kernel is None else kernel
    dil_g = cv2.dilate(bg.view(np.uint8), k).view(bool)
    dil_p = cv2.dilate(bp.view(np.uint8), k).view(bool)
    precision = np.count_nonzero(bp & dil_g) / n_fg
    recall = np.count_nonzero(bg & dil_p) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def statistics(values: Sequence[float]) -> tuple[float, float, float]:
    """(Mean, Recall, Decay) of one object's per-frame scores, as ``davis2017.utils.db_statistics``.

    NaN values are ignored by Mean and Recall counts them as failures (``nanmean(v > 0.5)``); an empty sequence
    gives NaN everywhere. The toolkit casts bin edges to uint8; we keep them exact (same result for ≤ 256
    frames).
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    with np.errstate(invalid="ignore"):
        mean = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        recall = float(np.mean(v > 0.5))
    ids = (np.round(np.linspace(1, v.size, 5) + 1e-10) - 1).astype(np.int64)
    bins = [v[ids[i] : ids[i + 1] + 1] for i in range(4)]
    first, last = bins[0], bins[3]
    if np.isfinite(first).any() and np.isfinite(last).any():
        decay = float(np.nanmean(first) - np.nanmean(last))
    else:
        decay = float("nan")
    return mean, recall, decay


def evaluate_objects(
    gt: np.ndarray, pred: np.ndarray, frames: dict[int, Sequence[int]], *, bound_th: float = BOUND_TH
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per-frame J and F of every object of one sequence.

    Args:
        gt: T×H×W integer label volume (0 = background; void already mapped to background).
        pred: T×H×W integer label volume of the prediction.
        frames: object id -> positions (into the first axis) to evaluate it on.
        bound_th: boundary tolerance (fraction of the diagonal, or pixels when >= 1).

    Returns:
        object id -> (J[len(frames[obj])], F[len(frames[obj])]).
    """
    if gt.shape != pred.shape:
        raise ValueError(f"evaluate_objects: ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    radius = boundary_radius(gt.shape[1], gt.shape[2], bound_th)
    kernel = disk(radius)
    out = {}
    for obj, positions in frames.items():
        j_vals = np.empty(len(positions))
        f_vals = np.empty(len(positions))
        for i, t in enumerate(positions):
            g = gt[t] == obj
            p = pred[t] == obj
            j_vals[i] = jaccard(g, p)
            f_vals[i] = f_measure(g, p, radius=radius, kernel=kernel)
        out[obj] = (j_vals, f_vals)
    return out
