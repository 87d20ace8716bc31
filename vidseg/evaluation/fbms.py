"""``FBMSEvaluator``: moving-object segmentation P / R / F on the annotated frames (FBMS-59, DAVIS-Moving, ...).

Two definitions, both computed from the space-time contingency table of GT objects × predicted tracks over the
annotated frames (paper 001):

- **proposed** (paper 001, ``eval_custom.py``): Hungarian assignment of predicted tracks to GT objects maximising
  Σ F_ij; P = Σ matched |c ∩ g| / Σ all predicted foreground, R = Σ matched |c ∩ g| / Σ GT foreground (every
  unmatched predicted pixel, e.g. a static false positive, lowers P); F = 2PR/(P+R); the dataset score is the
  mean over videos of P, R and F separately. As the reference code, P (R) is 0 without predicted (GT) pixels.
- **official** (``MoSegEval_PR.cpp`` / ``MoSegEvalAll_PR.cpp``, dense labels as one-point tracks): regions = GT
  labels incl. background, clusters = every predicted label 0..max label (a track's label = its id; labels
  without pixels on the annotated frames are empty clusters, P = R = 0 when assigned a region); F quantised to ×10⁴ integers for a
  square Hungarian; a cluster left on a dummy region is skipped, a dummy cluster on a real region counts as
  P = 1, R = 0; per video P, R = means over counted pairs; objects = pairs with F > threshold minus one for
  background; dataset F = F of the mean P and R, objects summed. Pixel weights are uniform (the records carry
  no FBMS ``.pgm`` weight maps).

Values are fractions in [0, 1].
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment

from vidseg.registry import EVALUATOR_REGISTRY
from vidseg.structures.video_instances import VideoInstances

from .base import VideoEvaluatorBase, annotated_frames, track_rles
from vidseg.structures.masks import rle_areas, intersection_matrix, make_disjoint

logger = logging.getLogger(__name__)

EPS = 1e-10
OBJECT_THRESHOLD = 0.75


def contingency(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(Gmax+1)×(Pmax+1) int64 joint pixel counts of two F×H×W non-negative label volumes (frame by frame)."""
    if gt.shape != pred.shape:
        raise ValueError(f"contingency: ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    ng = int(gt.max(initial=0)) + 1
    npr = int(pred.max(initial=0)) + 1
    table = np.zeros(ng * npr, dtype=np.int64)
    for g, p in zip(gt, pred):
        table += np.bincount((g.astype(np.int64) * npr + p).ravel(), minlength=ng * npr)
    return table.reshape(ng, npr)


def proposed_prf(table: np.ndarray) -> dict[str, Any]:
    """Paper-001 P / R / F of one video from its contingency table (row / column 0 = background)."""
    sizes_g = table.sum(1)
    sizes_p = table.sum(0)
    g_ids = [g for g in range(1, table.shape[0]) if sizes_g[g] > 0]
    p_ids = [p for p in range(1, table.shape[1]) if sizes_p[p] > 0]
    inter = table[np.ix_(g_ids, p_ids)].astype(float)
    prec = inter / np.maximum(sizes_p[p_ids][None, :], EPS)
    rec = inter / np.maximum(sizes_g[g_ids][:, None], EPS)
    f = 2 * prec * rec / np.maximum(prec + rec, EPS)
    rows, cols = linear_sum_assignment(-f)
    correct = float(inter[rows, cols].sum())
    num_pred = float(sizes_p[1:].sum())
    num_gt = float(sizes_g[1:].sum())
    p = correct / max(num_pred, EPS)
    r = correct / max(num_gt, EPS)
    return {
        "P": p,
        "R": r,
        "F": 2 * p * r / max(p + r, EPS),
        "assignment": [[int(g_ids[i]), int(p_ids[j]), float(f[i, j])] for i, j in zip(rows, cols)],
    }


def official_prf(
    table: np.ndarray, object_threshold: float = OBJECT_THRESHOLD, *, num_clusters: int | None = None
) -> dict[str, Any]:
    """FBMS ``MoSegEval_PR`` numbers of one video from its contingency table (uniform pixel weights).

    Clusters are every label 0..max label of the prediction, as the official tool counts them: every column of
    ``table`` (column 0 = predicted background) plus, when ``num_clusters`` (max label + 1) exceeds the columns,
    the labels without pixels on the annotated frames. Such an empty cluster assigned to a real region scores
    P = 0, R = 0 (a dummy cluster, only when clusters run out, scores P = 1, R = 0). Empty clusters are
    interchangeable, so at most one per region is materialised. Regions are the rows with pixels.
    """
    regions = [g for g in range(table.shape[0]) if table[g].sum() > 0]
    if num_clusters is not None and num_clusters > table.shape[1]:
        extra = min(num_clusters - table.shape[1], len(regions))
        table = np.concatenate([table, np.zeros((table.shape[0], extra), dtype=table.dtype)], axis=1)
    n_reg, n_clu = len(regions), table.shape[1]
    overlap = table[regions].astype(np.float32)  # n_reg × n_clu
    clu_size = table.sum(0).astype(np.float32)
    reg_size = overlap.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(clu_size[None, :] > 0, overlap / clu_size[None, :], np.float32(0))
        rec = np.where((clu_size[None, :] > 0) & (reg_size[:, None] > 0), overlap / reg_size[:, None], np.float32(0))
        f32 = np.where((prec != 0) & (rec != 0), (2 * prec * rec) / (prec + rec), np.float32(0)).astype(np.float32)
    side = max(n_reg, n_clu)
    f_int = np.zeros((side, side), dtype=np.int64)  # rows = clusters, cols = regions (as the C++ code)
    f_int[:n_clu, :n_reg] = (f32 * np.float32(10000)).astype(np.int64).T
    rows, cols = linear_sum_assignment(-f_int)
    dummy_regions = side == n_clu
    sum_p = sum_r = 0.0
    counted = above = 0
    pairs = []
    for cl, rg in sorted(zip(rows.tolist(), cols.tolist())):
        if dummy_regions and rg >= n_reg:
            continue
        if not dummy_regions and cl >= n_clu:
            sum_p += 1.0
            counted += 1
            pairs.append([int(regions[rg]), -1, 1.0, 0.0, 0.0])
            continue
        p, r = float(prec[rg, cl]), float(rec[rg, cl])
        f = 2 * p * r / (p + r) if p != 0 and r != 0 else 0.0
        counted += 1
        above += int(f > object_threshold)
        sum_p += p
        sum_r += r
        pairs.append([int(regions[rg]), int(cl), p, r, f])
    avg_p = sum_p / counted if counted else 0.0
    avg_r = sum_r / counted if counted else 0.0
    return {
        "P": avg_p,
        "R": avg_r,
        "F": 2 * avg_p * avg_r / (avg_p + avg_r) if avg_p + avg_r > 0 else 0.0,
        "objects": max(0, above - 1),
        "visible_objects": max(0, n_reg - 1),
        "pairs": pairs,
    }


def summarize_fbms(
    per_video: Mapping[str, Mapping[str, Mapping[str, Any]]], object_threshold: float = OBJECT_THRESHOLD
) -> dict[str, float]:
    """Dataset numbers from ``{video: {"proposed": ..., "official": ...}}``."""
    if not per_video:
        nan = float("nan")
        return {"P": nan, "R": nan, "F": nan, "P_official": nan, "R_official": nan, "F_official": nan,
                f"objects_F>={object_threshold:.2f}": 0, "visible_objects": 0}
    prop = [v["proposed"] for v in per_video.values()]
    off = [v["official"] for v in per_video.values()]
    mp, mr = float(np.mean([o["P"] for o in off])), float(np.mean([o["R"] for o in off]))
    return {
        "P": float(np.mean([p["P"] for p in prop])),
        "R": float(np.mean([p["R"] for p in prop])),
        "F": float(np.mean([p["F"] for p in prop])),
        "P_official": mp,
        "R_official": mr,
        "F_official": 2 * mp * mr / (mp + mr) if mp + mr > 0 else 0.0,
        f"objects_F>={object_threshold:.2f}": int(sum(o["objects"] for o in off)),
        "visible_objects": int(sum(o["visible_objects"] for o in off)),
    }


def evaluate_video(gt: np.ndarray, pred: np.ndarray, object_threshold: float = OBJECT_THRESHOLD) -> dict[str, Any]:
    """Both metrics of one video from F×H×W label volumes over its annotated frames (0 = background)."""
    table = contingency(gt, pred)
    return {"proposed": proposed_prf(table), "official": official_prf(table, object_threshold)}


def record_table(record: Mapping, vi: VideoInstances | None) -> tuple[np.ndarray, dict]:
    """Contingency table of a record's annotated frames, computed on RLEs (no decoding unless masks overlap).

    Rows: 0 = background, 1..G = GT objects in order of first appearance; columns: 0 = predicted background,
    then the predicted tracks that own pixels there, in prediction order. Overlapping predictions are resolved
    as rendering them in ascending score would (overlapping GT: later objects on top). Returns the table and
    the row / column -> object / track id maps.
    """
    h, w = int(record["height"]), int(record["width"])
    rows = track_rles(vi, len(record["file_names"]))
    scores = list(vi.scores) if vi is not None else []
    gt_ids: dict[int, int] = {}
    for t in annotated_frames(record):
        for a in record["annotations"][t] or []:
            gt_ids.setdefault(int(a["id"]), len(gt_ids) + 1)
    table = np.zeros((len(gt_ids) + 1, len(rows) + 1), dtype=np.int64)
    for t in annotated_frames(record):
        anns = record["annotations"][t] or []
        g = make_disjoint([a["segmentation"] for a in anns], range(len(anns)))
        g_lab = [gt_ids[int(anns[k]["id"])] for k, _ in g]
        present = [k for k in range(len(rows)) if rows[k][t] is not None]
        p = make_disjoint([rows[k][t] for k in present], [scores[k] for k in present])
        p_lab = [present[k] + 1 for k, _ in p]
        a_g, a_p = rle_areas([r for _, r in g]), rle_areas([r for _, r in p])
        inter = intersection_matrix([r for _, r in p], [r for _, r in g], a_p)  # P×G
        table[np.ix_(g_lab, p_lab)] += inter.T.astype(np.int64)
        table[g_lab, 0] += (a_g - inter.sum(0)).astype(np.int64)
        table[0, p_lab] += (a_p - inter.sum(1)).astype(np.int64)
        table[0, 0] += int(h * w - a_g.sum() - a_p.sum() + inter.sum())
    keep = [0] + [c for c in range(1, table.shape[1]) if table[:, c].sum() > 0]
    labels = {"gt": {v: k for k, v in gt_ids.items()},
              "pred": {i: int(vi.track_ids[c - 1]) for i, c in enumerate(keep) if c > 0},
              "num_clusters": num_clusters(vi)}
    return table[:, keep], labels


def num_clusters(vi: VideoInstances | None) -> int:
    """The official tool's cluster count of a prediction: max label + 1, a track's label being its id (as in the
    written label PNGs); ids below 1 fall back to one label per track."""
    ids = [] if vi is None else [int(i) for i in vi.track_ids]
    if not ids:
        return 1
    return max(ids) + 1 if min(ids) >= 1 else len(ids) + 1


@EVALUATOR_REGISTRY.register()
class FBMSEvaluator(VideoEvaluatorBase):
    """Paper-001 P / R / F (``P``, ``R``, ``F``) and the official FBMS variant (``*_official``,
    ``objects_F>=0.75``: objects with F above 0.75, strictly, as the C++ tool counts them)."""

    task = "fbms"

    def __init__(
        self,
        dataset_name: str,
        output_dir: str | None = None,
        *,
        distributed: bool = True,
        object_threshold: float = OBJECT_THRESHOLD,
    ) -> None:
        super().__init__(dataset_name, output_dir, distributed=distributed)
        self._threshold = object_threshold

    def _evaluate(self, records: list[dict], predictions: dict[Any, VideoInstances]) -> dict:
        if not self._metadata.get("has_gt", True):
            logger.warning("%s has no ground truth: FBMSEvaluator returns no metrics", self._dataset_name)
            return {}
        per_video = {}
        for rec in records:
            table, ids = record_table(rec, predictions.get(rec["video_id"]))
            official = official_prf(table, self._threshold, num_clusters=ids["num_clusters"])
            res = {"proposed": proposed_prf(table), "official": official, "labels": ids}
            per_video[str(rec["video_id"])] = res
        metrics = summarize_fbms(per_video, self._threshold)
        self._write_json("fbms_details.json", {"metrics": metrics, "videos": per_video})
        return {self.task: metrics}

