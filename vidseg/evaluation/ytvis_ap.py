"""YouTube-VIS / OVIS video AP, equal to the official YouTube-VIS API (``YTVOSeval`` of the YouTube-VOS cocoapi).

The official procedure, reproduced exactly (``tests/evaluation/test_ytvis_official.py`` checks it against an
independent brute-force implementation on randomized cases; ``benchmarks/eval_speed.py`` against a faithful
re-implementation of the official code):

- video IoU of a prediction and a ground-truth track: ``Σ_t |d_t ∩ g_t| / Σ_t |d_t ∪ g_t|`` over the frames
  where either is present (0 when the union is empty); crowd tracks use the same IoU;
- a track's area is its ``avg_area``: the mean of its non-empty frames' areas, 0 when it has none (for ground
  truth the official code reads the json's ``areas`` list: pass ``area`` to use it); a ground-truth track whose
  frames are all empty or null stays a ground truth that nothing can match;
- per (video, category) COCO greedy matching at IoU 0.50:0.05:0.95 (highest score first, ties in input order;
  a non-ignored ground truth is preferred, among equal IoUs the later one), crowd ground truth ignored and
  matchable many times, area ranges all / small < 128² / medium 128²–256² / large > 256² (bounds inclusive),
  at most 100 predictions per (video, category);
- pycocotools' ``accumulate`` (101-point interpolated precision; ties in score across videos in sorted
  video-id order) and its 12 summary stats.

Undefined stats (no ground truth in an area range, e.g. APl on a dataset without large objects) are the
toolkit's -1, reported here as NaN (``null`` in json files).

Inputs are plain dicts so the core serves the evaluator and the CLI alike:

- ground-truth track: ``{video_id, category_id, segmentations[T] (RLE or None), iscrowd[, area]}``
- predicted track: ``{video_id, category_id, score, segmentations[T] (RLE or None)}``
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from vidseg.structures.masks import paired_intersections, rle_areas

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
REC_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = [[0.0, 1e5**2], [0.0, 128.0**2], [128.0**2, 256.0**2], [256.0**2, 1e5**2]]
AREA_LABELS = ["all", "small", "medium", "large"]
MAX_DETS = [1, 10, 100]
# the 12 stats of the toolkit's summarize(), in its order: (name, is AP, IoU threshold, area, max detections)
STATS = [
    ("AP", True, None, "all", 100), ("AP50", True, 0.5, "all", 100), ("AP75", True, 0.75, "all", 100),
    ("APs", True, None, "small", 100), ("APm", True, None, "medium", 100), ("APl", True, None, "large", 100),
    ("AR1", False, None, "all", 1), ("AR10", False, None, "all", 10), ("AR100", False, None, "all", 100),
    ("ARs", False, None, "small", 100), ("ARm", False, None, "medium", 100), ("ARl", False, None, "large", 100),
]
STAT_NAMES = [s[0] for s in STATS]


def _areas(seqs: Sequence[Sequence[dict | None]]) -> np.ndarray:
    """N×T float areas of N RLE sequences (0 where ``None``), from one batched area computation."""
    n = len(seqs)
    t = len(seqs[0]) if n else 0
    out = np.zeros((n, t))
    flat = [s for seq in seqs for s in seq]
    present = np.fromiter((s is not None for s in flat), dtype=bool, count=len(flat))
    if present.any():
        out.reshape(-1)[present] = rle_areas([s for s in flat if s is not None])
    return out


def video_iou(
    dt: Sequence[Sequence[dict | None]],
    gt: Sequence[Sequence[dict | None]],
    *,
    dt_areas: np.ndarray | None = None,
    gt_areas: np.ndarray | None = None,
) -> np.ndarray:
    """D×G spatio-temporal IoU ``Σ_t |d_t ∩ g_t| / Σ_t |d_t ∪ g_t|`` (0 when the union is empty).

    A frame where only one side is present adds its area to the union only. Intersections are exact pixel
    counts of the frames where both masks are non-empty (one RLE intersection per pair and frame, the areas in
    one batched call); per-frame areas (D×T, G×T) may be passed when already known.
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
    pos_d, pos_g = a_d > 0, a_g > 0
    left, right, counts = [], [], []
    for i in range(d_n):
        for j in range(g_n):
            frames = np.flatnonzero(pos_d[i] & pos_g[j]).tolist()
            left += [dt[i][t] for t in frames]
            right += [gt[j][t] for t in frames]
            counts.append(len(frames))
    pair_of = np.repeat(np.arange(d_n * g_n), counts)
    inter = np.bincount(pair_of, weights=paired_intersections(left, right), minlength=d_n * g_n).reshape(d_n, g_n)
    union = a_d.sum(1)[:, None] + a_g.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)


def mean_area(areas: np.ndarray) -> float:
    """The official ``avg_area`` from per-frame areas (0 where absent): mean of the non-zero ones, else 0."""
    nz = np.asarray(areas, dtype=float)
    nz = nz[nz > 0]
    return float(nz.mean()) if nz.size else 0.0


def greedy_match(ious: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO's greedy matching at every IoU threshold at once.

    Args:
        ious: D×G IoUs, predictions sorted by descending score, ground truth with the ignored ones last.
        gt_ignore, crowd: G booleans (crowd ground truth stays matchable).

    Returns:
        (matched T×D bool, matched-to-an-ignored-GT T×D bool).
    """
    n_t = len(IOU_THRESHOLDS)
    d_n, g_n = ious.shape
    matched = np.zeros((n_t, d_n), dtype=bool)
    to_ignored = np.zeros((n_t, d_n), dtype=bool)
    if d_n == 0 or g_n == 0:
        return matched, to_ignored
    thr = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[:, None]
    if g_n == 1:  # one ground truth: the first prediction above the threshold takes it (every one, if crowd)
        ok = ious[:, 0][None, :] >= thr
        if crowd[0]:
            return ok, ok.copy()
        first = np.argmax(ok, axis=1)
        hit = ok[np.arange(n_t), first]
        matched[np.flatnonzero(hit), first[hit]] = True
        return matched, matched & bool(gt_ignore[0])
    taken = np.zeros((n_t, g_n), dtype=bool)
    rows = np.arange(n_t)
    rev = slice(None, None, -1)
    for d in range(d_n):
        iou = ious[d]
        ok = (iou[None, :] >= thr) & (~taken | crowd[None, :])
        if not ok.any():
            continue
        # the best non-ignored candidate (the later one among equal IoUs), else the best ignored one
        pick_n = ok & ~gt_ignore[None, :]
        pick = np.where(pick_n.any(1)[:, None], pick_n, ok)
        vals = np.where(pick, iou[None, :], -1.0)
        m = g_n - 1 - np.argmax(vals[:, rev], axis=1)
        hit = pick.any(1)
        matched[hit, d] = True
        to_ignored[hit, d] = gt_ignore[m[hit]]
        taken[rows[hit], m[hit]] = True
    return matched, to_ignored


@dataclass
class _Cell:
    """Matching of one (video, category) in one area range (pycocotools' ``evalImgs`` entry)."""

    scores: np.ndarray  # D sorted descending
    matched: np.ndarray  # T×D
    ignored: np.ndarray  # T×D
    n_gt: int  # non-ignored ground truth


def _evaluate_cell(dts: list[dict], gts: list[dict], ious: np.ndarray) -> list[_Cell]:
    """The four area-range cells of one (video, category); ``dts`` sorted by score, ``ious`` D×G."""
    d_area = np.array([d["area"] for d in dts])
    g_area = np.array([g["area"] for g in gts])
    crowd = np.array([bool(g["iscrowd"]) for g in gts], dtype=bool)
    scores = np.array([d["score"] for d in dts])
    cells, memo = [], {}
    for lo, hi in AREA_RANGES:
        g_ig = crowd | (g_area < lo) | (g_area > hi)
        order = np.argsort(g_ig, kind="stable")
        key = order.tobytes() + g_ig.tobytes()
        if key not in memo:
            memo[key] = greedy_match(ious[:, order], g_ig[order], crowd[order])
        matched, ignored = memo[key]
        out_of_range = (d_area < lo) | (d_area > hi)
        cells.append(_Cell(scores, matched, ignored | (~matched & out_of_range[None, :]), int((~g_ig).sum())))
    return cells


def _accumulate(cells: dict[tuple[int, int], list[_Cell]], n_cats: int) -> dict[str, np.ndarray]:
    """pycocotools' ``accumulate`` over the cells {(category index, area index): [cells in video order]}."""
    n_t, n_r, n_a, n_m = len(IOU_THRESHOLDS), len(REC_THRESHOLDS), len(AREA_RANGES), len(MAX_DETS)
    precision = -np.ones((n_t, n_r, n_cats, n_a, n_m))
    recall = -np.ones((n_t, n_cats, n_a, n_m))
    scores = -np.ones((n_t, n_r, n_cats, n_a, n_m))
    for (k, a), evals in cells.items():
        npig = sum(e.n_gt for e in evals)
        if npig == 0:
            continue
        all_scores = np.concatenate([e.scores for e in evals])
        rank = np.concatenate([np.arange(len(e.scores)) for e in evals])  # position within its video (sorted)
        all_matched = np.concatenate([e.matched for e in evals], axis=1)
        all_ignored = np.concatenate([e.ignored for e in evals], axis=1)
        for m, max_det in sorted(enumerate(MAX_DETS), key=lambda x: -x[1]):
            if max_det < MAX_DETS[-1] and rank.max(initial=-1) < max_det:  # nothing cut: same as the larger one
                recall[:, k, a, m] = recall[:, k, a, m + 1]
                precision[:, :, k, a, m] = precision[:, :, k, a, m + 1]
                scores[:, :, k, a, m] = scores[:, :, k, a, m + 1]
                continue
            keep = np.flatnonzero(rank < max_det)  # each video's top max_det, concatenated in video order
            order = keep[np.argsort(-all_scores[keep], kind="mergesort")]
            det_scores = all_scores[order]
            dtm, dt_ig = all_matched[:, order], all_ignored[:, order]
            tp_sum = np.cumsum(dtm & ~dt_ig, axis=1, dtype=float)
            fp_sum = np.cumsum(~dtm & ~dt_ig, axis=1, dtype=float)
            n_d = tp_sum.shape[1]
            if n_d == 0:
                recall[:, k, a, m] = 0
                precision[:, :, k, a, m] = 0
                scores[:, :, k, a, m] = 0
                continue
            rc = tp_sum / npig
            pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
            recall[:, k, a, m] = rc[:, -1]
            pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # precision envelope
            # searchsorted(rc[t], REC_THRESHOLDS, "left") of every row at once (rc rows are non-decreasing)
            idx = (rc[:, :, None] < REC_THRESHOLDS[None, None, :]).sum(1)
            ok = idx < n_d
            safe = np.where(ok, idx, 0)
            precision[:, :, k, a, m] = np.where(ok, np.take_along_axis(pr, safe, axis=1), 0.0)
            scores[:, :, k, a, m] = np.where(ok, det_scores[safe], 0.0)
    return {"precision": precision, "recall": recall, "scores": scores}


def summarize(ev: dict[str, np.ndarray]) -> dict[str, float]:
    """The 12 stats of the toolkit's ``summarize`` (NaN where it reports -1)."""
    out = {}
    for name, is_ap, iou_thr, area, max_det in STATS:
        a, m = AREA_LABELS.index(area), MAX_DETS.index(max_det)
        s = ev["precision"][:, :, :, a, m] if is_ap else ev["recall"][:, :, a, m]
        if iou_thr is not None:
            s = s[np.where(iou_thr == IOU_THRESHOLDS)[0]]
        s = s[s > -1]
        out[name] = float(s.mean()) if s.size else float("nan")
    return out


@dataclass
class VideoAPResult:
    """Summary metrics (fractions; NaN where the toolkit reports -1), per-category AP and the accumulated arrays
    (``precision`` T×R×K×A×M, ``recall`` T×K×A×M, ``scores``; -1 where undefined)."""

    metrics: dict[str, float]
    per_category: dict[int, float]
    eval: dict[str, np.ndarray] = field(repr=False)


def _tracks(src: Sequence[dict], *, is_gt: bool) -> list[dict]:
    """Tracks with their per-frame areas and ``area`` (the official ``avg_area``)."""
    if not src:
        return []
    lengths = {len(s["segmentations"]) for s in src}
    areas = _areas([s["segmentations"] for s in src]) if len(lengths) == 1 else None
    out = []
    for i, s in enumerate(src):
        a = areas[i] if areas is not None else _areas([s["segmentations"]])[0]
        track = {"video_id": s["video_id"], "category_id": int(s["category_id"]), "segmentations": s["segmentations"],
                 "areas": a, "area": mean_area(a) if s.get("area") is None else float(s["area"])}
        if is_gt:
            track["iscrowd"] = int(s.get("iscrowd", 0))
        else:
            track["score"] = float(s["score"])
        out.append(track)
    return out


def evaluate_video_ap(
    gt: Sequence[dict], dt: Sequence[dict], *, video_ids: Sequence[Any], category_ids: Sequence[int]
) -> VideoAPResult:
    """YouTube-VIS AP/AR of predicted tracks ``dt`` against ground-truth tracks ``gt`` (the official procedure).

    Args:
        gt: ground-truth tracks (see module docstring); ``segmentations`` has one entry per frame of its video.
        dt: predicted tracks with the same per-video frame count.
        video_ids: every video of the split (videos without GT or predictions included).
        category_ids: every category id of the split.
    """
    videos = sorted(set(video_ids))
    cats = sorted(set(int(c) for c in category_ids))
    cat_index = {c: k for k, c in enumerate(cats)}
    known = set(videos)
    for d in dt:
        if d["video_id"] not in known:
            raise ValueError(f"evaluate_video_ap: prediction for unknown video_id {d['video_id']!r}")
    by_video: dict[Any, tuple[list[dict], list[dict]]] = defaultdict(lambda: ([], []))
    for d in _tracks(dt, is_gt=False):
        if d["category_id"] in cat_index:
            by_video[d["video_id"]][0].append(d)
    for g in _tracks(gt, is_gt=True):
        if g["category_id"] in cat_index and g["video_id"] in known:
            by_video[g["video_id"]][1].append(g)
    cells: dict[tuple[int, int], list[_Cell]] = defaultdict(list)
    for v in videos:
        if v not in by_video:
            continue
        dts, gts = by_video[v]
        groups: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        for i, d in enumerate(dts):
            groups[d["category_id"]][0].append(i)
        for j, g in enumerate(gts):
            groups[g["category_id"]][1].append(j)
        for c in sorted(groups):
            di, gi = groups[c]
            di = [di[i] for i in np.argsort([-dts[i]["score"] for i in di], kind="mergesort")][: MAX_DETS[-1]]
            cd, cg = [dts[i] for i in di], [gts[j] for j in gi]
            ious = np.zeros((len(cd), len(cg)))
            if cd and cg:
                ious = video_iou([d["segmentations"] for d in cd], [g["segmentations"] for g in cg],
                                 dt_areas=np.stack([d["areas"] for d in cd]), gt_areas=np.stack([g["areas"] for g in cg]))
            for a, cell in enumerate(_evaluate_cell(cd, cg, ious)):
                cells[cat_index[c], a].append(cell)
    ev = _accumulate(cells, len(cats))
    precision = ev["precision"]
    per_category = {}
    for k, cat in enumerate(cats):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_category[cat] = float(p.mean()) if p.size else float("nan")
    return VideoAPResult(metrics=summarize(ev), per_category=per_category, eval=ev)
