"""Wall time of the evaluators' metric cores beside a straightforward per-frame baseline, on synthetic data.

Sizes (from the evaluation issue): YouTube-VIS 40 videos × 36 frames × 720×1280 with ~300 predictions; DAVIS
one sequence of 30 frames × 480×854 with 3 objects; FBMS 3 videos × 200 annotated frames × 480×640; KITTI-MOTS
2 sequences × 100 frames × 375×1242. Targets: YouTube-VIS ≤ 1 s, J&F ≤ 0.5 s on 2 cores.

Baselines (same inputs, same outputs, checked equal):
- YTVIS: a faithful re-implementation of the official ``ytvos`` / ``ytvoseval`` procedure (``ytvoseval_ref.py``:
  ``loadRes`` areas and boxes, per pair and frame ``mask_util.merge`` + ``area`` IoU, evaluateVid, pycocotools'
  ``accumulate`` and ``summarize``), all 12 stats asserted equal; both timed best of ``--repeat``.
- DAVIS: the toolkit's per-object full-frame J / boundary / dilation.
- FBMS: the reference ``eval_custom`` style (one boolean volume per id, pairwise sums) for both metrics.
- MOTS: dense decoded masks and numpy IoU instead of RLE IoU.

Run: ``python benchmarks/eval_speed.py [--repeat N]``.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable
from unittest import mock

import cv2
import numpy as np
import pycocotools.mask as mask_util

from vidseg.evaluation import fbms, mots_metrics
from vidseg.evaluation.vos_metrics import boundary_radius, disk, seg2bmap, statistics
from vidseg.evaluation.vos_sequences import RLELabels, SequenceJob, evaluate_sequence
from vidseg.evaluation.ytvis_ap import STAT_NAMES, evaluate_video_ap, mean_area
from vidseg.structures.masks import encode_mask, to_json_rle
from ytvoseval_ref import official_stats


def poly_rle(cx: float, cy: float, rx: float, ry: float, h: int, w: int) -> dict:
    """RLE of an octagon (ellipse-like) polygon, encoded in C by pycocotools."""
    ang = np.linspace(0, 2 * np.pi, 9)[:-1]
    pts = np.stack([cx + rx * np.cos(ang), cy + ry * np.sin(ang)], 1).clip(0, [w - 1, h - 1]).ravel().tolist()
    return to_json_rle(mask_util.merge(mask_util.frPyObjects([pts], h, w)))


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# ------------------------------------------------------------------ YouTube-VIS
EMPTY_RLE_CACHE: dict = {}


def empty_rle(h: int, w: int) -> dict:
    if (h, w) not in EMPTY_RLE_CACHE:
        EMPTY_RLE_CACHE[h, w] = encode_mask(np.zeros((h, w), np.uint8))
    return EMPTY_RLE_CACHE[h, w]


def ytvis_data(rng: np.random.Generator, n_videos=40, n_frames=36, h=720, w=1280, preds_per_video=7.5):
    """A YouTube-VIS GT dataset dict (compressed RLE, ``areas`` as in the official json) and a results list.

    Includes the official toolkit's edge cases: GT tracks whose annotated frames are all empty, a crowd track
    every 10 videos, null frames, predictions with zero-area frames and tied scores."""
    anns, results = [], []
    for v in range(n_videos):
        for _ in range(int(rng.integers(1, 4))):
            c = int(rng.integers(0, 40))
            cx, cy, rx, ry = rng.uniform(200, 1000), rng.uniform(150, 550), rng.uniform(30, 200), rng.uniform(30, 150)
            segs = [poly_rle(cx + 3 * t, cy, rx, ry, h, w) for t in range(n_frames)]
            if rng.random() < 0.05:  # annotated but empty on every frame: an unmatchable GT
                segs = [empty_rle(h, w) for _ in range(n_frames)]
            anns.append({"id": len(anns) + 1, "video_id": v, "category_id": c, "iscrowd": int(v % 10 == 9),
                         "segmentations": segs, "areas": [float(mask_util.area(s)) for s in segs]})
            for _ in range(int(rng.poisson(preds_per_video / 2))):
                jit = rng.normal(0, 10, 2)
                segs = [None if rng.random() < 0.05 else empty_rle(h, w) if rng.random() < 0.05 else
                        poly_rle(cx + 3 * t + jit[0], cy + jit[1], rx, ry, h, w) for t in range(n_frames)]
                results.append({"video_id": v, "category_id": c if rng.random() < 0.7 else int(rng.integers(0, 40)),
                                "score": float(rng.integers(0, 20)) / 20, "segmentations": segs})
    videos = [{"id": v, "height": h, "width": w, "length": n_frames,
               "file_names": [f"{v:04d}/{t:05d}.jpg" for t in range(n_frames)]} for v in range(n_videos)]
    return {"videos": videos, "categories": [{"id": c, "name": f"c{c}"} for c in range(40)], "annotations": anns}, results


def vidseg_ytvis(dataset: dict, results: list[dict]) -> dict:
    """vidseg's path from the same inputs: tracks (GT ``area`` from the json ``areas``, as the toolkit reads it)."""
    gt = [{"video_id": a["video_id"], "category_id": a["category_id"], "iscrowd": a["iscrowd"],
           "segmentations": a["segmentations"], "area": mean_area([x or 0 for x in a["areas"]])}
          for a in dataset["annotations"]]
    return evaluate_video_ap(gt, results, video_ids=[v["id"] for v in dataset["videos"]],
                             category_ids=[c["id"] for c in dataset["categories"]]).metrics


def bench_ytvis(rng, repeat):
    dataset, results = ytvis_data(rng)
    ours, metrics = timed(lambda: vidseg_ytvis(dataset, results), repeat)
    base, stats = timed(lambda: official_stats(dataset, results), repeat)
    for name, ref in zip(STAT_NAMES, stats):
        got = metrics[name]
        assert (ref == -1 and np.isnan(got)) or abs(got - ref) < 1e-12, (name, got, ref)
    return f"YTVIS 40 videos x 36 frames x 720x1280, {len(results)} predictions", ours, base, 1.0


# ------------------------------------------------------------------ DAVIS J&F
def davis_job(rng, n_frames=30, h=480, w=854, k=3):
    gt, pred = [], []
    centers = rng.uniform([150, 120], [700, 360], size=(k, 2))
    for _ in range(n_frames):
        centers += rng.normal(0, 4, centers.shape)
        gt.append([(o + 1, poly_rle(*centers[o], 70, 55, h, w)) for o in range(k)])
        pred.append([(o + 1, poly_rle(*(centers[o] + rng.normal(0, 4, 2)), 68, 57, h, w)) for o in range(k)])
    return SequenceJob("bench", RLELabels(h, w, gt), RLELabels(h, w, pred), list(range(n_frames)))


def baseline_davis(job: SequenceJob) -> float:
    """Per frame and object, full-frame J and F as the DAVIS toolkit does them."""
    gt, pred = job.gt.load(range(len(job.pred_index))), job.pred.load(job.pred_index)
    r = boundary_radius(gt.shape[1], gt.shape[2])
    k = disk(r)
    jm, fm = [], []
    for obj in range(1, int(gt[0].max()) + 1):
        js, fs = [], []
        for t in range(1, len(gt) - 1):
            g, p = gt[t] == obj, pred[t] == obj
            u = (g | p).sum()
            js.append(1.0 if u == 0 else (g & p).sum() / u)
            bg, bp = seg2bmap(g), seg2bmap(p)
            dg = cv2.dilate(bg.astype(np.uint8), k)
            dp = cv2.dilate(bp.astype(np.uint8), k)
            prec = (bp & (dg > 0)).sum() / max(bp.sum(), 1)
            rec = (bg & (dp > 0)).sum() / max(bg.sum(), 1)
            fs.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
        jm.append(statistics(js)[0])
        fm.append(statistics(fs)[0])
    return (np.mean(jm) + np.mean(fm)) / 2


def bench_davis(rng, repeat):
    job = davis_job(rng)

    def ours():
        res = evaluate_sequence(job, "davis")
        return np.mean([(np.mean(j) + np.mean(f)) / 2 for j, f in res.objects.values()])

    t_ours, jf = timed(ours, repeat)
    t_base, jf_base = timed(lambda: baseline_davis(job), repeat)
    assert abs(jf - jf_base) < 1e-9, (jf, jf_base)
    return "DAVIS J&F 30 frames x 480x854 x 3 objects", t_ours, t_base, 0.5


# ------------------------------------------------------------------ FBMS
def fbms_records(rng, n_videos=3, n_frames=200, h=480, w=640):
    from vidseg.structures.video_instances import VideoInstances

    out = []
    for v in range(n_videos):
        anns, tracks = [], {1: [], 2: [], 3: []}
        for t in range(n_frames):
            a = poly_rle(200 + t, 200, 60, 80, h, w)
            b = poly_rle(450, 300 - t / 2, 50, 40, h, w)
            anns.append([{"id": 1, "category_id": 0, "segmentation": a}, {"id": 2, "category_id": 0, "segmentation": b}])
            tracks[1].append(poly_rle(203 + t, 198, 60, 80, h, w))
            tracks[2].append(poly_rle(448, 302 - t / 2, 52, 40, h, w) if t < 150 else None)
            tracks[3].append(poly_rle(80, 80, 30, 30, h, w))  # static false positive
        rec = {"video_id": v, "file_names": [f"{v}/{t:05d}.jpg" for t in range(n_frames)], "height": h, "width": w,
               "annotations": anns}
        vi = VideoInstances(image_size=(h, w), frame_idx=list(range(n_frames)), track_ids=[1, 2, 3],
                            scores=[0.9, 0.8, 0.7], labels=[-1, -1, -1], masks=[tracks[1], tracks[2], tracks[3]])
        out.append((rec, vi))
    return out


def dense_volumes(rec: dict, vi) -> tuple[np.ndarray, np.ndarray]:
    """Baseline input: decode and paint every annotated frame (GT by id order, tracks by ascending score)."""
    h, w, n = rec["height"], rec["width"], len(rec["annotations"])
    gt = np.zeros((n, h, w), np.int32)
    pred = np.zeros_like(gt)
    order = np.argsort(vi.scores, kind="stable")
    for t, anns in enumerate(rec["annotations"]):
        for a in anns:
            gt[t][mask_util.decode(a["segmentation"]) > 0] = a["id"]
        for k in order:
            if vi.masks[k][t] is not None:
                pred[t][mask_util.decode(vi.masks[k][t]) > 0] = vi.track_ids[k]
    return gt, pred


def baseline_fbms(rec: dict, vi) -> dict:
    """Dense label volumes, one boolean volume per id and pairwise sums (the reference scripts' approach)."""
    gt, pred = dense_volumes(rec, vi)
    g_ids, p_ids = np.unique(gt), np.arange(int(pred.max()) + 1)  # the official tool: every label up to the max
    table = np.zeros((len(g_ids), len(p_ids)), np.int64)
    for i, g in enumerate(g_ids):
        gm = gt == g
        for j, p in enumerate(p_ids):
            table[i, j] = np.count_nonzero(gm & (pred == p))
    return {"proposed": fbms.proposed_prf(table), "official": fbms.official_prf(table)}


def bench_fbms(rng, repeat):
    data = fbms_records(rng)

    def ours():
        per = {}
        for rec, vi in data:
            table, ids = fbms.record_table(rec, vi)
            per[rec["video_id"]] = {"proposed": fbms.proposed_prf(table),
                                    "official": fbms.official_prf(table, num_clusters=ids["num_clusters"])}
        return fbms.summarize_fbms(per)

    t_ours, res = timed(ours, repeat)
    t_base, base = timed(lambda: fbms.summarize_fbms({rec["video_id"]: baseline_fbms(rec, vi) for rec, vi in data}), 1)
    assert abs(res["F"] - base["F"]) < 1e-12 and abs(res["F_official"] - base["F_official"]) < 1e-12
    return "FBMS 3 videos x 200 frames x 480x640", t_ours, t_base, None


# ------------------------------------------------------------------ MOTS
def mots_sequences(rng, n_seq=2, n_frames=100, h=375, w=1242):
    seqs = {}
    for s in range(n_seq):
        gt, tr, ign = [], [], []
        centers = rng.uniform([100, 120], [1100, 260], size=(8, 2))
        for _ in range(n_frames):
            centers[:, 0] += 3
            lab = np.zeros((h, w), np.int32)
            for o, (cx, cy) in enumerate(centers):
                lab[int(cy) - 25: int(cy) + 25, int(cx) - 30: int(cx) + 30] = o + 1
            tlab = np.zeros_like(lab)
            for o, (cx, cy) in enumerate(centers):
                if rng.random() < 0.9:
                    dx, dy = rng.integers(-4, 5, 2)
                    tlab[int(cy + dy) - 25: int(cy + dy) + 25, int(cx + dx) - 30: int(cx + dx) + 30] = o + 1
            enc = lambda m: mask_util.encode(np.asfortranarray(m.astype(np.uint8)))  # noqa: E731
            gt.append([(1000 * (1 + o % 2) + o, 1 + o % 2, enc(lab == o + 1)) for o in range(8) if (lab == o + 1).any()])
            tr.append([(o + 1, 1 + o % 2, enc(tlab == o + 1)) for o in range(8) if (tlab == o + 1).any()])
            ign.append(None)
        seqs[f"{s:04d}"] = (gt, tr, ign)
    return seqs


def dense_iou(a, b, ioa=False):
    """Baseline similarity: decode every mask and compute IoU with numpy."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    da = np.stack([mask_util.decode(r).astype(bool) for r in a]).reshape(len(a), -1)
    db = np.stack([mask_util.decode(r).astype(bool) for r in b]).reshape(len(b), -1)
    inter = da.astype(np.float32) @ db.T.astype(np.float32)
    if ioa:
        return inter / np.maximum(da.sum(1)[:, None], 1)
    union = da.sum(1)[:, None] + db.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def bench_mots(rng, repeat):
    seqs = mots_sequences(rng)
    classes = {1: "car", 2: "pedestrian"}
    t_ours, ours = timed(lambda: mots_metrics.evaluate_mots(seqs, classes)[0], repeat)
    with mock.patch.object(mots_metrics, "_iou", dense_iou):
        t_base, base = timed(lambda: mots_metrics.evaluate_mots(seqs, classes)[0], 1)
    assert abs(ours["sMOTSA"] - base["sMOTSA"]) < 1e-6
    return "MOTS 2 x 100 frames x 375x1242", t_ours, t_base, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the vidseg path (and of the YTVIS baseline); the best is reported")
    parser.add_argument("--only", choices=("ytvis", "davis", "fbms", "mots"), help="run one case")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'case':<58} {'vidseg (s)':>11} {'baseline (s)':>13} {'speed-up':>9} {'target':>8}")
    benches = {"ytvis": bench_ytvis, "davis": bench_davis, "fbms": bench_fbms, "mots": bench_mots}
    for key, bench in benches.items():
        if args.only and key != args.only:
            continue
        name, t_ours, t_base, target = bench(rng, args.repeat)
        tgt = f"<= {target:g}" if target else "-"
        ok = "" if target is None else (" ok" if t_ours <= target else " MISSED")
        print(f"{name:<58} {t_ours:>11.3f} {t_base:>13.3f} {t_base / t_ours:>8.1f}x {tgt:>8}{ok}", flush=True)


if __name__ == "__main__":
    main()
