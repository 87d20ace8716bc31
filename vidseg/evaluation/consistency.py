"""Temporal-consistency metrics for VIS (paper 003 §4.4): MOT metrics on mask boxes.

Per video and annotated frame, GT objects with a non-empty mask and predicted tracks with score ≥ τ and a
non-empty mask become tight boxes; pairs with box IoU < 0.5 cannot match. Matching and counting follow
py-motmetrics (``MOTAccumulator.update`` with ``iou_matrix(max_iou=0.5)``, ``compute_many(...,
generate_overall=True)``): a GT object keeps its previous hypothesis when still matchable, the rest is a
min-distance assignment maximising the number of matches; an identity switch is a match to a hypothesis other
than the object's last one. IDF1 / IDP / IDR come from the per-video global assignment of object and
hypothesis tracks (frames where a pair is matchable count as ID true positives); counts are summed over videos.
Class-agnostic; values are fractions (MOTA may be negative).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pycocotools.mask as mask_util
from scipy.optimize import linear_sum_assignment

from .base import annotated_frames, gt_tracks, track_rles
from vidseg.structures.masks import rle_areas

MAX_DISTANCE = 0.5  # 1 − IoU
SCORE_THRESHOLDS = (0.3, 0.5, 0.7)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """N×M IoU of XYWH boxes (``motmetrics.distances.boxiou``)."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=-1)
    union = np.prod(a[:, 2:], axis=-1)[:, None] + np.prod(b[:, 2:], axis=-1)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def solve(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-cost assignment with NaN = forbidden (motmetrics' scipy solver: forbidden edges get a cost larger
    than any combination of allowed ones, then are dropped from the result)."""
    costs = np.asarray(costs, dtype=float)
    if costs.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    valid = np.isfinite(costs)
    if valid.all():
        finite = costs
    elif not valid.any():
        finite = np.zeros_like(costs)
    else:
        c = np.abs(costs[valid]).max() + 1
        finite = np.where(valid, costs, 2 * min(costs.shape) * c + 1)
    rows, cols = linear_sum_assignment(finite)
    keep = valid[rows, cols]
    return rows[keep], cols[keep]


def video_counts(frames: Sequence[tuple[Sequence[int], np.ndarray, Sequence[int], np.ndarray]]) -> dict[str, float]:
    """MOT counts of one video from per-frame ``(gt_ids, gt_boxes N×4, hyp_ids, hyp_boxes M×4)``."""
    last_match: dict[int, int] = {}
    c = {"objects": 0, "predictions": 0, "matches": 0, "misses": 0, "fp": 0, "switches": 0}
    o_frames: dict[int, int] = {}
    h_frames: dict[int, int] = {}
    pairs: dict[tuple[int, int], int] = {}
    for oids, oboxes, hids, hboxes in frames:
        oids, hids = np.asarray(oids, dtype=np.int64), np.asarray(hids, dtype=np.int64)
        dist = 1.0 - box_iou(oboxes, hboxes)
        dist = np.where(dist > MAX_DISTANCE, np.nan, dist)
        c["objects"] += len(oids)
        c["predictions"] += len(hids)
        for o in oids.tolist():
            o_frames[o] = o_frames.get(o, 0) + 1
        for h in hids.tolist():
            h_frames[h] = h_frames.get(h, 0) + 1
        for i, j in zip(*np.nonzero(np.isfinite(dist))):
            key = (int(oids[i]), int(hids[j]))
            pairs[key] = pairs.get(key, 0) + 1
        o_done = np.zeros(len(oids), bool)
        h_done = np.zeros(len(hids), bool)
        if len(oids) and len(hids):
            for i, o in enumerate(oids.tolist()):
                if o not in last_match:
                    continue
                js = np.flatnonzero(~h_done & (hids == last_match[o]))
                if js.size and np.isfinite(dist[i, js[0]]):
                    o_done[i] = h_done[js[0]] = True
                    c["matches"] += 1
            d = dist.copy()
            d[o_done, :] = np.nan
            d[:, h_done] = np.nan
            for i, j in zip(*solve(d)):
                o, h = int(oids[i]), int(hids[j])
                c["switches"] += int(o in last_match and last_match[o] != h)
                c["matches"] += 1
                o_done[i] = h_done[j] = True
                last_match[o] = h
        c["misses"] += int((~o_done).sum())
        c["fp"] += int((~h_done).sum())
    c.update(_id_counts(o_frames, h_frames, pairs))
    return c


def _id_counts(o_frames: Mapping[int, int], h_frames: Mapping[int, int], pairs: Mapping) -> dict[str, float]:
    """motmetrics ``id_global_assignment``: IDFP / IDFN of the min-cost object ↔ hypothesis track matching."""
    oids, hids = sorted(o_frames), sorted(h_frames)
    no, nh = len(oids), len(hids)
    if no + nh == 0:
        return {"idfp": 0, "idfn": 0}
    fp = np.zeros((no + nh, no + nh))
    fn = np.zeros((no + nh, no + nh))
    fp[no:, :nh] = np.nan
    fn[:no, nh:] = np.nan
    for r, o in enumerate(oids):
        fn[r, :nh] = o_frames[o]
        fn[r, nh + r] = o_frames[o]
    for col, h in enumerate(hids):
        fp[:no, col] = h_frames[h]
        fp[col + no, col] = h_frames[h]
    o_idx = {o: r for r, o in enumerate(oids)}
    h_idx = {h: k for k, h in enumerate(hids)}
    for (o, h), n in pairs.items():
        fp[o_idx[o], h_idx[h]] -= n
        fn[o_idx[o], h_idx[h]] -= n
    rows, cols = solve(fp + fn)
    return {"idfp": float(fp[rows, cols].sum()), "idfn": float(fn[rows, cols].sum())}


def summarize_counts(counts: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """IDF1, MOTA, IDP, IDR, IDs (plus raw counts) of videos combined, as motmetrics' OVERALL row."""
    s = {k: float(sum(c[k] for c in counts)) for k in
         ("objects", "predictions", "matches", "misses", "fp", "switches", "idfp", "idfn")}
    idtp = s["objects"] - s["idfn"]

    def div(a: float, b: float) -> float:
        return a / b if b else float("nan")

    return {
        "IDF1": div(2 * idtp, s["objects"] + s["predictions"]),
        "MOTA": 1.0 - div(s["misses"] + s["switches"] + s["fp"], s["objects"]),
        "IDP": div(idtp, idtp + s["idfp"]),
        "IDR": div(idtp, idtp + s["idfn"]),
        "IDs": int(s["switches"]),
        "num_objects": int(s["objects"]),
        "num_false_positives": int(s["fp"]),
        "num_misses": int(s["misses"]),
    }


def _boxes(rles: Sequence[dict]) -> np.ndarray:
    return np.asarray(mask_util.toBbox(list(rles)), dtype=float).reshape(-1, 4) if rles else np.zeros((0, 4))


def record_frames(record: Mapping, vi: Any, score_threshold: float) -> list[tuple[list[int], np.ndarray, list[int], np.ndarray]]:
    """Per annotated frame (gt ids, gt boxes, hypothesis ids, hypothesis boxes) of one record + VideoInstances.

    Hypothesis id = index of the track in the video's prediction list; empty masks are absent.
    """
    length = len(record["file_names"])
    gts = gt_tracks(record)
    rows = track_rles(vi, length)
    keep = [k for k in range(len(rows)) if vi.scores[k] >= score_threshold] if vi is not None else []
    out = []
    for t in annotated_frames(record):
        g = [(o["id"], o["segmentations"][t]) for o in gts if o["segmentations"][t] is not None]
        h = [(k, rows[k][t]) for k in keep if rows[k][t] is not None]
        g = _non_empty(g)
        h = _non_empty(h)
        out.append(([i for i, _ in g], _boxes([r for _, r in g]), [k for k, _ in h], _boxes([r for _, r in h])))
    return out


def _non_empty(items: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    if not items:
        return items
    areas = rle_areas([r for _, r in items])
    return [it for it, a in zip(items, areas) if a > 0]


def evaluate_consistency(
    records: Sequence[Mapping], predictions: Mapping[Any, Any], thresholds: Sequence[float] = SCORE_THRESHOLDS
) -> dict[float, dict[str, float]]:
    """{τ: metrics} for each score threshold τ over the annotated frames of every record."""
    out = {}
    for tau in thresholds:
        counts = [video_counts(record_frames(r, predictions.get(r["video_id"]), tau)) for r in records]
        out[float(tau)] = summarize_counts(counts)
    return out
