"""YouTube-VIS AP equals the official evaluator on randomized cases with its edge cases.

The reference below is a brute-force, loop-by-loop implementation of the official procedure written from its
description (the YouTube-VIS API ``ytvoseval``: video IoU summed over frames, ``avg_area`` of the non-empty
frames, per (video, category) COCO greedy matching, pycocotools' accumulate and the 12 summary stats); it shares
no code with vidseg (dense numpy masks, no pycocotools call but RLE encoding of the inputs).

Edge cases generated: ground-truth tracks whose annotated frames are all empty (kept as unmatchable ground
truth), null frames, predictions with many zero-area frames, crowd tracks, tied scores, objects of every area
range, unsorted video ids, more than 10 predictions per (video, category).
"""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest

from vidseg.evaluation.cli import main as cli_main
from vidseg.evaluation.ytvis_ap import STAT_NAMES, evaluate_video_ap
from vidseg.structures.masks import encode_mask

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

H, W = 300, 300  # large enough for the small / medium / large ranges (128², 256²)


# ------------------------------------------------------------------ brute-force reference
def _dense(segs):
    return [None if s is None else s for s in segs]


def reference_stats(gt, dt, video_ids, category_ids):
    """The official procedure, loop by loop. ``gt`` / ``dt`` hold dense H×W bool masks (or None) per frame; a GT
    may carry ``area`` (its json ``areas`` mean). Returns the 12 stats with -1 for undefined ones."""
    iou_thrs = np.linspace(0.5, 0.95, 10)
    rec_thrs = np.linspace(0.0, 1.0, 101)
    area_rngs = [[0, 1e10], [0, 128**2], [128**2, 256**2], [256**2, 1e10]]
    max_dets = [1, 10, 100]

    def avg_area(track):
        if track.get("area") is not None:
            return track["area"]
        areas = [int(m.sum()) for m in track["masks"] if m is not None and m.sum() > 0]
        return sum(areas) / len(areas) if areas else 0

    def video_iou(d, g):
        inter = union = 0
        for dm, gm in zip(d["masks"], g["masks"]):
            if dm is not None and gm is not None:
                inter += int((dm & gm).sum())
                union += int((dm | gm).sum())
            elif gm is not None:
                union += int(gm.sum())
            elif dm is not None:
                union += int(dm.sum())
        return inter / union if union > 0 else 0.0

    vids, cats = sorted(set(video_ids)), sorted(set(category_ids))
    evals = {}  # (k, a, v) -> dict
    for k, c in enumerate(cats):
        for a, (lo, hi) in enumerate(area_rngs):
            for vi, v in enumerate(vids):
                gts = [g for g in gt if g["video_id"] == v and g["category_id"] == c]
                dts = [d for d in dt if d["video_id"] == v and d["category_id"] == c]
                if not gts and not dts:
                    continue
                g_ign = [bool(g.get("iscrowd", 0)) or not (lo <= avg_area(g) <= hi) for g in gts]
                g_order = sorted(range(len(gts)), key=lambda j: g_ign[j])  # stable: ignored last
                gts = [gts[j] for j in g_order]
                g_ign = [g_ign[j] for j in g_order]
                crowd = [bool(g.get("iscrowd", 0)) for g in gts]
                dts = sorted(dts, key=lambda d: -d["score"])[:max_dets[-1]]  # stable
                ious = [[video_iou(d, g) for g in gts] for d in dts]
                n_t = len(iou_thrs)
                dtm = [[False] * len(dts) for _ in range(n_t)]
                dt_ig = [[False] * len(dts) for _ in range(n_t)]
                for ti, thr in enumerate(iou_thrs):
                    gtm = [False] * len(gts)
                    for di in range(len(dts)):
                        best, m = min(thr, 1 - 1e-10), -1
                        for gi in range(len(gts)):
                            if gtm[gi] and not crowd[gi]:
                                continue
                            if m > -1 and not g_ign[m] and g_ign[gi]:
                                break
                            if ious[di][gi] < best:
                                continue
                            best, m = ious[di][gi], gi
                        if m == -1:
                            continue
                        dt_ig[ti][di] = g_ign[m]
                        dtm[ti][di] = True
                        gtm[m] = True
                for ti in range(n_t):
                    for di, d in enumerate(dts):
                        if not dtm[ti][di] and not (lo <= avg_area(d) <= hi):
                            dt_ig[ti][di] = True
                evals[k, a, vi] = {"scores": [d["score"] for d in dts], "dtm": dtm, "dt_ig": dt_ig,
                                   "n_gt": sum(not x for x in g_ign)}
    n_t, n_r, n_k, n_a, n_m = 10, 101, len(cats), 4, 3
    precision = -np.ones((n_t, n_r, n_k, n_a, n_m))
    recall = -np.ones((n_t, n_k, n_a, n_m))
    for k in range(n_k):
        for a in range(n_a):
            es = [evals[k, a, vi] for vi in range(len(vids)) if (k, a, vi) in evals]
            if not es:
                continue
            npig = sum(e["n_gt"] for e in es)
            if npig == 0:
                continue
            for mi, md in enumerate(max_dets):
                entries = []  # (score, position) in concatenation order
                for e in es:
                    for di in range(min(md, len(e["scores"]))):
                        entries.append((e, di))
                order = sorted(range(len(entries)), key=lambda i: -entries[i][0]["scores"][entries[i][1]])
                for ti in range(n_t):
                    tp = fp = 0
                    rc, pr = [], []
                    for i in order:
                        e, di = entries[i]
                        if e["dt_ig"][ti][di]:
                            tp_i = fp_i = 0
                        else:
                            tp_i, fp_i = int(e["dtm"][ti][di]), int(not e["dtm"][ti][di])
                        tp += tp_i
                        fp += fp_i
                        rc.append(tp / npig)
                        pr.append(tp / (tp + fp + np.spacing(1)))
                    recall[ti, k, a, mi] = rc[-1] if rc else 0
                    for i in range(len(pr) - 1, 0, -1):
                        pr[i - 1] = max(pr[i - 1], pr[i])
                    q = []
                    for r in rec_thrs:
                        pos = next((i for i, x in enumerate(rc) if x >= r), None)
                        q.append(0.0 if pos is None else pr[pos])
                    precision[ti, :, k, a, mi] = q
    out = []
    for is_ap, thr, a, md in [(1, None, 0, 100), (1, 0.5, 0, 100), (1, 0.75, 0, 100), (1, None, 1, 100),
                              (1, None, 2, 100), (1, None, 3, 100), (0, None, 0, 1), (0, None, 0, 10),
                              (0, None, 0, 100), (0, None, 1, 100), (0, None, 2, 100), (0, None, 3, 100)]:
        mi = max_dets.index(md)
        s = precision[:, :, :, a, mi] if is_ap else recall[:, :, a, mi]
        if thr is not None:
            s = s[[int(round((thr - 0.5) / 0.05))]]
        s = s[s > -1]
        out.append(float(s.mean()) if s.size else -1.0)
    return out


# ------------------------------------------------------------------ random cases
def _box(y, x, hh, ww):
    m = np.zeros((H, W), bool)
    m[max(y, 0):max(y + hh, 0), max(x, 0):max(x + ww, 0)] = True
    return m


def random_case(seed):
    rng = np.random.default_rng(seed)
    n_frames = int(rng.integers(2, 5))
    video_ids = [int(v) for v in rng.permutation(np.arange(10, 10 + int(rng.integers(2, 5))))]
    cats = [1, 4, 9]
    gt, dt = [], []
    empty = np.zeros((H, W), bool)
    for v in video_ids:
        for _ in range(int(rng.integers(0, 4))):
            side = int(rng.choice([20, 60, 150, 200, 280]))
            y, x = (int(z) for z in rng.integers(0, W - side + 1, 2))
            masks = [_box(y, x + 4 * t, side, side - 3 * t) for t in range(n_frames)]
            masks = [None if rng.random() < 0.2 else m for m in masks]
            kind = rng.random()
            if kind < 0.15:  # annotated, but empty on every frame
                masks = [empty if m is not None else None for m in masks]
            elif kind < 0.2:  # null on every frame
                masks = [None] * n_frames
            c = int(rng.choice(cats))
            gt.append({"video_id": v, "category_id": c, "iscrowd": int(rng.random() < 0.12), "masks": masks})
            for _ in range(int(rng.integers(0, 5))):
                dy, dx = (int(z) for z in rng.integers(-side // 4, side // 4 + 1, 2))
                dm = [None if m is None or rng.random() < 0.1 else np.roll(m, (dy, dx), axis=(0, 1)) for m in masks]
                if rng.random() < 0.3:  # many zero-area frames
                    dm = [empty if rng.random() < 0.6 else m for m in dm]
                dt.append({"video_id": v, "category_id": c if rng.random() < 0.8 else int(rng.choice(cats)),
                           "score": float(rng.integers(1, 6)) / 5, "masks": dm})
        for _ in range(int(rng.integers(0, 3))):  # pure false positives, some entirely empty
            side = int(rng.choice([10, 130, 270]))
            m = _box(0, 0, side, side) if rng.random() < 0.7 else empty
            dt.append({"video_id": v, "category_id": int(rng.choice(cats)), "score": float(rng.integers(1, 6)) / 5,
                       "masks": [m] * n_frames})
    if seed % 3 == 0 and video_ids:  # > 10 predictions of one (video, category): AR10 vs AR100 differ
        v = video_ids[0]
        for i in range(12):
            dt.append({"video_id": v, "category_id": 1, "score": 0.05 + 0.01 * i, "masks": [_box(5, 5, 30, 30)] * n_frames})
        gt.append({"video_id": v, "category_id": 1, "iscrowd": 0, "masks": [_box(5, 5, 30, 30)] * n_frames})
    return gt, dt, video_ids, cats


def _rle_tracks(tracks):
    out = []
    for t in tracks:
        item = {k: v for k, v in t.items() if k != "masks"}
        item["segmentations"] = [None if m is None else encode_mask(m) for m in t["masks"]]
        out.append(item)
    return out


def _assert_equal_stats(metrics, ref):
    for name, r in zip(STAT_NAMES, ref):
        got = metrics[name]
        if r == -1:
            assert np.isnan(got), (name, got)
        else:
            assert got == pytest.approx(r, abs=1e-12), (name, got, r)


@pytest.mark.parametrize("seed", range(12))
def test_equals_brute_force_official_procedure(seed):
    gt, dt, vids, cats = random_case(seed)
    ref = reference_stats(gt, dt, vids, cats)
    res = evaluate_video_ap(_rle_tracks(gt), _rle_tracks(dt), video_ids=vids, category_ids=cats)
    assert len(res.metrics) == 12
    _assert_equal_stats(res.metrics, ref)


def test_all_empty_ground_truth_track_is_an_unmatched_ground_truth():
    a = _box(0, 0, 20, 20)
    empty = np.zeros((H, W), bool)
    gt = [{"video_id": 1, "category_id": 1, "iscrowd": 0, "masks": [a, a]},
          {"video_id": 1, "category_id": 1, "iscrowd": 0, "masks": [empty, None]}]
    dt = [{"video_id": 1, "category_id": 1, "score": 0.9, "masks": [a, a]}]
    m = evaluate_video_ap(_rle_tracks(gt), _rle_tracks(dt), video_ids=[1], category_ids=[1]).metrics
    # 2 ground truths (area 400 and 0, both "small"), 1 true positive: recall 0.5, precision 1 up to it
    assert m["AP"] == pytest.approx(51 / 101) and m["APs"] == pytest.approx(51 / 101)
    assert m["AR1"] == m["AR100"] == m["ARs"] == pytest.approx(0.5)
    assert np.isnan(m["APm"]) and np.isnan(m["ARl"])


def test_cli_on_json_files_equals_the_reference(tmp_path):
    """The file path (loader -> records -> evaluator): json GT with RLE strings, RLE lists and polygons."""
    gt, dt, vids, cats = random_case(4)
    n_frames = len(gt[0]["masks"])
    anns = []
    for i, (g, rle_g) in enumerate(zip(gt, _rle_tracks(gt))):
        segs = []
        for t, (m, r) in enumerate(zip(g["masks"], rle_g["segmentations"])):
            if r is not None and i % 2 == 1 and m.any():  # uncompressed RLE (counts list), as in the real json
                flat = m.T.ravel()
                change = np.flatnonzero(np.diff(np.concatenate([[0], flat.astype(int), [2]])) != 0)
                counts = np.diff(np.concatenate([[0], change])).tolist()
                r = {"size": [H, W], "counts": counts if flat[0] == 0 else [0] + counts}
            segs.append(r)
        anns.append({"id": 100 + i, "video_id": g["video_id"], "category_id": g["category_id"],
                     "iscrowd": g["iscrowd"], "segmentations": segs,
                     "areas": [None if m is None else int(m.sum()) for m in g["masks"]]})
    data = {"videos": [{"id": v, "height": H, "width": W, "length": n_frames,
                        "file_names": [f"{v}/{t}.jpg" for t in range(n_frames)]} for v in vids],
            "categories": [{"id": c, "name": f"c{c}"} for c in cats], "annotations": anns}
    (tmp_path / "gt.json").write_text(json.dumps(data))
    results = [{"video_id": d["video_id"], "category_id": d["category_id"], "score": d["score"],
                "segmentations": d["segmentations"]} for d in _rle_tracks(dt)]
    (tmp_path / "res.json").write_text(json.dumps(results))
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["ytvis", "--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "res.json")]) == 0
    metrics = {k: (float("nan") if v is None else v) for k, v in json.loads(out.getvalue()).items()}
    _assert_equal_stats(metrics, reference_stats(gt, dt, vids, cats))
