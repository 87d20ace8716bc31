"""YouTube-VIS / OVIS video AP: pycocotools' ``COCOeval`` with a spatio-temporal mask IoU.

Reproduces the official YouTube-VIS API (``YTVOSeval``): per (video, category) COCO matching, IoU thresholds
0.50:0.05:0.95, 101 recall points, maxDets 1/10/100, area ranges from a track's mean area over its non-empty
frames with the YouTube-VIS bounds (small < 128², medium 128²–256², large > 256²), crowd tracks ignored
(``ignore = iscrowd``; the IoU itself is the plain video IoU for crowd tracks too, as in the official API).

Inputs are plain dicts so the core serves the evaluator and the CLI alike:

- ground-truth track: ``{video_id, category_id, segmentations[T] (RLE or None), iscrowd}``
- predicted track: ``{video_id, category_id, score, segmentations[T] (RLE or None)}``
"""
from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from pycocotools.cocoeval import COCOeval

from vidseg.structures.masks import intersection_matrix, rle_areas


AREA_RANGES = [[0.0, 1e5**2], [0.0, 128.0**2], [128.0**2, 256.0**2], [256.0**2, 1e5**2]]
AREA_LABELS = ["all", "small", "medium", "large"]
MAX_DETS = [1, 10, 100]
# names of COCOeval.stats[0..7] as the YouTube-VIS server reports them
STAT_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10"]


def _areas(seqs: Sequence[Sequence[dict | None]]) -> np.ndarray:
    """N×T float areas of N RLE sequences (0 where ``None``)."""
    n = len(seqs)
    t = len(seqs[0]) if n else 0
    out = np.zeros((n, t))
    idx = [(i, j) for i in range(n) for j in range(t) if seqs[i][j] is not None]
    if idx:
        vals = rle_areas([seqs[i][j] for i, j in idx])
        rows, cols = zip(*idx)
        out[list(rows), list(cols)] = vals
    return out


def video_iou(
    dt: Sequence[Sequence[dict | None]],
    gt: Sequence[Sequence[dict | None]],
    *,
    dt_areas: np.ndarray | None = None,
    gt_areas: np.ndarray | None = None,
) -> np.ndarray:
    """D×G spatio-temporal IoU ``Σ_t |d_t ∩ g_t| / Σ_t |d_t ∪ g_t|`` (0 when the union is empty).

    A frame where only one side is present adds its area to the union only. Intersections come from one
    IoA call per frame (crowd form: I / area(d), rescaled to an exact pixel count). Per-frame
    areas (D×T, G×T) may be passed when already known.
    """
    d_n, g_n = len(dt), len(gt)
    if d_n == 0 or g_n == 0:
        return np.zeros((d_n, g_n))
    length = len(gt[0])
    for seq in (*dt, *gt):
        if len(seq) != length:
            raise ValueError(f"video_iou: tracks cover different numbers of frames ({len(seq)} vs {length})")
    a_d = _areas(dt) if dt_areas is None else np.asarray(dt_areas, dtype=float)
    a_g = _areas(gt) if gt_areas is None else np.asarray(gt_areas, dtype=float)
    inter = np.zeros((d_n, g_n))
    for t in range(length):
        di = [i for i in range(d_n) if dt[i][t] is not None and a_d[i, t] > 0]
        gi = [j for j in range(g_n) if gt[j][t] is not None and a_g[j, t] > 0]
        if not di or not gi:
            continue
        inter[np.ix_(di, gi)] += intersection_matrix([dt[i][t] for i in di], [gt[j][t] for j in gi], a_d[di, t])
    union = a_d.sum(1)[:, None] + a_g.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)


def mean_area(areas: np.ndarray) -> float:
    """The official ``avg_area`` from per-frame areas (0 where absent): mean of the non-zero ones, else 0."""
    nz = np.asarray(areas, dtype=float)
    nz = nz[nz > 0]
    return float(nz.mean()) if nz.size else 0.0


class VideoCOCOeval(COCOeval):
    """``COCOeval`` whose "images" are videos: ``_prepare`` and ``computeIoU`` are replaced, the matching
    (``evaluateImg``), ``accumulate`` and ``summarize`` are pycocotools' own. Tracks get ``area`` = their
    mean area so the unchanged ``evaluateImg`` applies the video area ranges."""

    def __init__(self, gt: Sequence[dict], dt: Sequence[dict], *, video_ids: Sequence[Any],
                 category_ids: Sequence[int]) -> None:
        super().__init__(iouType="segm")
        p = self.params
        p.imgIds = list(video_ids)
        p.catIds = sorted(int(c) for c in category_ids)
        p.areaRng = [list(r) for r in AREA_RANGES]
        p.areaRngLbl = list(AREA_LABELS)
        p.maxDets = list(MAX_DETS)
        self._gt = [self._track(g, i, is_gt=True) for i, g in enumerate(gt)]
        self._dt = [self._track(d, i, is_gt=False) for i, d in enumerate(dt)]
        self._by_video: dict[Any, tuple[list[dict], list[dict]]] = defaultdict(lambda: ([], []))
        for d in self._dt:
            self._by_video[d["video_id"]][0].append(d)
        for g in self._gt:
            self._by_video[g["video_id"]][1].append(g)
        self._video_ious: dict[Any, tuple[np.ndarray, dict[int, int], dict[int, int]]] = {}

    @staticmethod
    def _track(src: dict, index: int, *, is_gt: bool) -> dict:
        segs = list(src["segmentations"])
        areas = _areas([segs])[0]
        track = {
            "id": index + 1,  # COCOeval uses id 0 as "unmatched"
            "video_id": src["video_id"],
            "category_id": int(src["category_id"]),
            "segmentations": segs,
            "areas": areas,
            "area": mean_area(areas),
            "iscrowd": int(src.get("iscrowd", 0)) if is_gt else 0,
        }
        if is_gt:
            track["ignore"] = track["iscrowd"]
        else:
            track["score"] = float(src["score"])
        return track

    def _prepare(self) -> None:
        self._gts = defaultdict(list)
        self._dts = defaultdict(list)
        for g in self._gt:
            self._gts[g["video_id"], g["category_id"]].append(g)
        for d in self._dt:
            self._dts[d["video_id"], d["category_id"]].append(d)
        self.evalImgs = defaultdict(list)
        self.eval = {}

    def _ious_of_video(self, video_id: Any) -> tuple[np.ndarray, dict[int, int], dict[int, int]]:
        """All-pairs video IoU of one video's predictions × ground truth (computed once per video)."""
        if video_id not in self._video_ious:
            dts, gts = self._by_video[video_id]
            ious = video_iou(
                [d["segmentations"] for d in dts],
                [g["segmentations"] for g in gts],
                dt_areas=np.stack([d["areas"] for d in dts]) if dts else None,
                gt_areas=np.stack([g["areas"] for g in gts]) if gts else None,
            )
            self._video_ious[video_id] = (
                ious, {d["id"]: i for i, d in enumerate(dts)}, {g["id"]: j for j, g in enumerate(gts)}
            )
        return self._video_ious[video_id]

    def computeIoU(self, imgId: Any, catId: int) -> np.ndarray | list:  # noqa: N802 (pycocotools API)
        gt = self._gts[imgId, catId]
        dt = self._dts[imgId, catId]
        if len(gt) == 0 and len(dt) == 0:
            return []
        order = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in order][: self.params.maxDets[-1]]
        ious, d_row, g_col = self._ious_of_video(imgId)
        return ious[np.ix_([d_row[d["id"]] for d in dt], [g_col[g["id"]] for g in gt])]

    def accumulate(self, p: Any = None) -> None:
        """pycocotools' ``accumulate`` with the per-threshold Python loops vectorised (identical arrays):
        precision T×R×K×A×M (101-point interpolated, -1 without GT), recall T×K×A×M, scores T×R×K×A×M."""
        p = self.params if p is None else p
        pe = self._paramsEval
        n_t, n_r, n_k, n_a, n_m = len(p.iouThrs), len(p.recThrs), len(p.catIds), len(p.areaRng), len(p.maxDets)
        precision = -np.ones((n_t, n_r, n_k, n_a, n_m))
        recall = -np.ones((n_t, n_k, n_a, n_m))
        scores = -np.ones((n_t, n_r, n_k, n_a, n_m))
        n_img, n_area = len(pe.imgIds), len(pe.areaRng)
        k_list = [n for n, k in enumerate(p.catIds) if k in set(pe.catIds)]
        a_list = [n for n, a in enumerate(map(tuple, p.areaRng)) if a in set(map(tuple, pe.areaRng))]
        m_list = [m for m in p.maxDets if m in set(pe.maxDets)]
        i_list = [n for n, i in enumerate(p.imgIds) if i in set(pe.imgIds)]
        for k, k0 in enumerate(k_list):
            for a, a0 in enumerate(a_list):
                base = k0 * n_area * n_img + a0 * n_img
                evals = [e for e in (self.evalImgs[base + i] for i in i_list) if e is not None]
                if not evals:
                    continue
                gt_ig = np.concatenate([e["gtIgnore"] for e in evals])
                npig = np.count_nonzero(gt_ig == 0)
                if npig == 0:
                    continue
                for m, max_det in enumerate(m_list):
                    det_scores = np.concatenate([e["dtScores"][0:max_det] for e in evals])
                    order = np.argsort(-det_scores, kind="mergesort")
                    sorted_scores = det_scores[order]
                    dtm = np.concatenate([e["dtMatches"][:, 0:max_det] for e in evals], axis=1)[:, order]
                    dt_ig = np.concatenate([e["dtIgnore"][:, 0:max_det] for e in evals], axis=1)[:, order]
                    tps = np.logical_and(dtm, np.logical_not(dt_ig))
                    fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
                    tp_sum = np.cumsum(tps, axis=1).astype(float)
                    fp_sum = np.cumsum(fps, axis=1).astype(float)
                    n_d = tp_sum.shape[1]
                    rc = tp_sum / npig
                    pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
                    recall[:, k, a, m] = rc[:, -1] if n_d else 0
                    if n_d:
                        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # precision envelope
                    for t in range(n_t):
                        idx = np.searchsorted(rc[t], p.recThrs, side="left")
                        ok = idx < n_d
                        q = np.zeros(n_r)
                        ss = np.zeros(n_r)
                        q[ok] = pr[t, idx[ok]]
                        ss[ok] = sorted_scores[idx[ok]]
                        precision[t, :, k, a, m] = q
                        scores[t, :, k, a, m] = ss
        self.eval = {"params": p, "counts": [n_t, n_r, n_k, n_a, n_m], "precision": precision, "recall": recall,
                     "scores": scores}

    def run(self) -> None:
        """evaluate + accumulate + summarize with pycocotools' progress printing silenced."""
        self._video_ious = {}
        with contextlib.redirect_stdout(io.StringIO()):
            self.evaluate()
            self.accumulate()
            self.summarize()


@dataclass
class VideoAPResult:
    """Summary metrics (fractions; NaN where the toolkit reports -1), per-category AP and the evaluator."""

    metrics: dict[str, float]
    per_category: dict[int, float]
    coco_eval: VideoCOCOeval = field(repr=False)


def evaluate_video_ap(
    gt: Sequence[dict], dt: Sequence[dict], *, video_ids: Sequence[Any], category_ids: Sequence[int]
) -> VideoAPResult:
    """YouTube-VIS AP/AR of predicted tracks ``dt`` against ground-truth tracks ``gt``.

    Args:
        gt: ground-truth tracks (see module docstring); ``segmentations`` has one entry per frame of its video.
        dt: predicted tracks with the same per-video frame count.
        video_ids: every video of the split (videos without GT or predictions included).
        category_ids: every category id of the split.
    """
    known = set(video_ids)
    for d in dt:
        if d["video_id"] not in known:
            raise ValueError(f"evaluate_video_ap: prediction for unknown video_id {d['video_id']!r}")
    coco_eval = VideoCOCOeval(gt, dt, video_ids=video_ids, category_ids=category_ids)
    coco_eval.run()
    stats = np.asarray(coco_eval.stats[: len(STAT_NAMES)], dtype=float)
    metrics = {n: (float(v) if v >= 0 else float("nan")) for n, v in zip(STAT_NAMES, stats)}
    precision = coco_eval.eval["precision"]  # T × R × K × A × M
    per_category = {}
    for k, cat in enumerate(coco_eval.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_category[int(cat)] = float(p.mean()) if p.size else float("nan")
    return VideoAPResult(metrics=metrics, per_category=per_category, coco_eval=coco_eval)
