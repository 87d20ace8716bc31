"""YouTube-VIS video AP: hand-computed golden cases and a brute-force independent re-computation."""
from __future__ import annotations

import contextlib
import io
import json
import zipfile

import numpy as np
import pytest

from vidseg.evaluation import YTVISEvaluator
from vidseg.evaluation.ytvis_ap import evaluate_video_ap, video_iou

from eval_testutils import box, instances, record, registered, run_evaluator
from vidseg.structures.masks import decode_mask, encode_mask

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

H, W = 20, 20
GT_BOX = box(H, W, 0, 10, 0, 10)  # 100 px


def inside(n: int) -> np.ndarray:
    """A mask of n pixels inside GT_BOX (row-major fill)."""
    block = np.zeros(100, np.uint8)
    block[:n] = 1
    m = np.zeros((H, W), np.uint8)
    m[:10, :10] = block.reshape(10, 10)
    return m


def gt_track(video_id, masks, category=0, iscrowd=0):
    return {"video_id": video_id, "category_id": category, "iscrowd": iscrowd,
            "segmentations": [None if m is None else encode_mask(m) for m in masks]}


def dt_track(video_id, masks, score, category=0):
    return {"video_id": video_id, "category_id": category, "score": score,
            "segmentations": [None if m is None else encode_mask(m) for m in masks]}


def test_video_iou_sums_over_frames_with_null_frames():
    # GT present in frames 0,1,2; prediction in 0,1,3. I = 100 + 20; U = 100 + 100 + 100 (GT alone) + 30 (dt alone)
    gt = [gt_track(1, [GT_BOX, GT_BOX, GT_BOX, None])["segmentations"]]
    extra = box(H, W, 15, 18, 0, 10)  # 30 px outside the GT box
    dt = [dt_track(1, [GT_BOX, inside(20), None, extra], 1.0)["segmentations"]]
    assert video_iou(dt, gt)[0, 0] == pytest.approx(120 / 330)
    # both absent everywhere -> union 0 -> IoU 0
    assert video_iou([[None, None]], [[None, None]])[0, 0] == 0.0


def test_golden_ap_two_predictions_one_object():
    # p1: IoU 0.6 (score 0.9), p2: IoU 0.8 (score 0.8) with the single GT track.
    gt = [gt_track(1, [GT_BOX, GT_BOX])]
    dt = [dt_track(1, [GT_BOX, inside(20)], 0.9), dt_track(1, [GT_BOX, inside(60)], 0.8)]
    res = evaluate_video_ap(gt, dt, video_ids=[1], category_ids=[0])
    m = res.metrics
    # thresholds .50,.55,.60: p1 TP -> AP 1; .65-.80 (4): p1 FP, p2 TP -> interpolated precision 0.5; .85-.95: 0
    assert m["AP"] == pytest.approx((3 * 1 + 4 * 0.5) / 10)
    assert m["AP50"] == pytest.approx(1.0)
    assert m["AP75"] == pytest.approx(0.5)
    assert m["AR10"] == pytest.approx(0.7)
    assert m["AR1"] == pytest.approx(0.3)  # only p1 kept: recall 1 at the three lowest thresholds
    assert res.per_category[0] == pytest.approx(m["AP"])


def test_perfect_predictions_give_one_and_missing_category_is_nan():
    gt = [gt_track(1, [GT_BOX, None]), gt_track(2, [inside(50), inside(40)], category=1)]
    dt = [dt_track(1, [GT_BOX, None], 0.5), dt_track(2, [inside(50), inside(40)], 0.7, category=1)]
    m = evaluate_video_ap(gt, dt, video_ids=[1, 2], category_ids=[0, 1, 2]).metrics
    for k in ("AP", "AP50", "AP75", "AR1", "AR10", "APs"):
        assert m[k] == pytest.approx(1.0)
    assert np.isnan(m["APm"]) and np.isnan(m["APl"])  # no medium / large tracks


def test_swapped_identity_track_scores_zero():
    # two equal objects; a track follows object A in frame 0 and object B in frame 1 -> IoU 1/3 with each
    a, b = box(H, W, 0, 5, 0, 5), box(H, W, 10, 15, 10, 15)
    gt = [gt_track(1, [a, a]), gt_track(1, [b, b])]
    dt = [dt_track(1, [a, b], 0.9), dt_track(1, [b, a], 0.8)]
    ious = video_iou([d["segmentations"] for d in dt], [g["segmentations"] for g in gt])
    np.testing.assert_allclose(ious, np.full((2, 2), 1 / 3))
    assert evaluate_video_ap(gt, dt, video_ids=[1], category_ids=[0]).metrics["AP"] == 0.0


@pytest.mark.parametrize("correct_first", [True, False])
def test_equal_scores_keep_input_order(correct_first):
    gt = [gt_track(1, [GT_BOX])]
    right = dt_track(1, [GT_BOX], 0.5)
    wrong = dt_track(1, [box(H, W, 12, 20, 12, 20)], 0.5)
    dt = [right, wrong] if correct_first else [wrong, right]
    ap = evaluate_video_ap(gt, dt, video_ids=[1], category_ids=[0]).metrics["AP"]
    # correct first: precision 1 at recall 1; wrong first: precision 1/2 at recall 1
    assert ap == pytest.approx(1.0 if correct_first else 0.5)


def test_lower_scored_correct_track_after_wrong_one_lowers_ap():
    gt = [gt_track(1, [GT_BOX])]
    good = evaluate_video_ap(gt, [dt_track(1, [GT_BOX], 0.9)], video_ids=[1], category_ids=[0]).metrics["AP"]
    worse = evaluate_video_ap(gt, [dt_track(1, [box(H, W, 12, 20, 12, 20)], 0.95), dt_track(1, [GT_BOX], 0.9)],
                              video_ids=[1], category_ids=[0]).metrics["AP"]
    assert good == pytest.approx(1.0) and worse == pytest.approx(0.5)


def test_crowd_ground_truth_is_ignored():
    crowd_box = box(H, W, 12, 20, 12, 20)
    gt = [gt_track(1, [GT_BOX]), gt_track(1, [crowd_box], iscrowd=1)]
    base = [dt_track(1, [GT_BOX], 0.8)]
    # a higher-scored detection on the crowd region is neither TP nor FP; one elsewhere is an FP
    on_crowd = evaluate_video_ap(gt, base + [dt_track(1, [crowd_box], 0.9)], video_ids=[1], category_ids=[0])
    elsewhere = evaluate_video_ap(gt, base + [dt_track(1, [box(H, W, 0, 3, 15, 20)], 0.9)], video_ids=[1],
                                  category_ids=[0])
    assert on_crowd.metrics["AP"] == pytest.approx(1.0)
    assert elsewhere.metrics["AP"] == pytest.approx(0.5)


def test_area_range_uses_mean_over_non_empty_frames():
    h, w = 200, 200
    small, big = box(h, w, 0, 100, 0, 100), box(h, w, 0, 150, 0, 200)  # 10000 and 30000 px -> mean 20000 (medium)
    masks = [small, None, big]
    gt = [{"video_id": 1, "category_id": 0, "iscrowd": 0, "segmentations": [None if m is None else encode_mask(m) for m in masks]}]
    dt = [dict(gt[0], score=0.9)]
    m = evaluate_video_ap(gt, dt, video_ids=[1], category_ids=[0]).metrics
    assert m["APm"] == pytest.approx(1.0)
    assert np.isnan(m["APs"]) and np.isnan(m["APl"])


# ---------------------------------------------------------------- brute force
def _dense(segs):

    return np.stack([np.zeros((H, W), bool) if s is None else decode_mask(s).astype(bool) for s in segs])


def brute_force_ap(gt, dt, video_ids, cats, max_det):
    """Independent AP (area 'all') / recall: numpy volume IoU, greedy matching, 101-point interpolation."""
    thrs = np.linspace(0.5, 0.95, 10)
    ap, rec = np.full((10, len(cats)), -1.0), np.full((10, len(cats)), -1.0)
    for k, c in enumerate(cats):
        n_gt = sum(1 for g in gt if g["category_id"] == c)
        if n_gt == 0:
            continue
        for ti, thr in enumerate(thrs):
            scored = []
            for v in video_ids:
                gs = [_dense(g["segmentations"]) for g in gt if g["video_id"] == v and g["category_id"] == c]
                ds = [d for d in dt if d["video_id"] == v and d["category_id"] == c]
                ds = sorted(ds, key=lambda d: -d["score"])[:max_det]  # sorted() is stable
                used = set()
                for d in ds:
                    dv = _dense(d["segmentations"])
                    best, best_iou = None, min(thr, 1 - 1e-10)
                    for j, gv in enumerate(gs):
                        union = (dv | gv).sum()
                        iou = (dv & gv).sum() / union if union else 0.0
                        if j not in used and iou >= best_iou:
                            best, best_iou = j, iou
                    if best is not None:
                        used.add(best)
                    scored.append((d["score"], best is not None))
            order = sorted(range(len(scored)), key=lambda i: -scored[i][0])
            tp = np.cumsum([scored[i][1] for i in order])
            fp = np.cumsum([not scored[i][1] for i in order])
            rc = tp / n_gt if len(order) else np.zeros(0)
            pr = tp / np.maximum(tp + fp, 1) if len(order) else np.zeros(0)
            rec[ti, k] = rc[-1] if len(rc) else 0.0
            pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
            q = [pr[np.searchsorted(rc, r, side="left")] if np.searchsorted(rc, r, side="left") < len(rc) else 0.0
                 for r in np.linspace(0, 1, 101)]
            ap[ti, k] = float(np.mean(q))
    return ap[ap > -1].mean(), rec[rec > -1].mean()


@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force_on_random_videos(seed):
    rng = np.random.default_rng(seed)
    gt, dt, vids = [], [], [1, 2, 3]
    for v in vids:
        for _ in range(rng.integers(1, 3)):
            y, x = rng.integers(0, 12, size=2)
            masks = [box(H, W, y, y + 6, x + t, x + t + 6) if rng.random() > 0.2 else None for t in range(3)]
            masks[0] = box(H, W, y, y + 6, x, x + 6)
            c = int(rng.integers(0, 2))
            gt.append(gt_track(v, masks, category=c))
            for _ in range(rng.integers(1, 4)):  # noisy copies
                dm = [None if m is None or rng.random() < 0.15 else np.roll(m, rng.integers(-2, 3), axis=1) for m in masks]
                dt.append(dt_track(v, dm, float(rng.random()), category=c if rng.random() < 0.8 else 1 - c))
        dt.append(dt_track(v, [box(H, W, 0, 3, 0, 3)] * 3, float(rng.random()), category=0))
    res = evaluate_video_ap(gt, dt, video_ids=vids, category_ids=[0, 1])
    ap100, ar100 = brute_force_ap(gt, dt, vids, [0, 1], 100)
    _, ar1 = brute_force_ap(gt, dt, vids, [0, 1], 1)
    assert res.metrics["AP"] == pytest.approx(ap100, abs=1e-9)
    assert res.metrics["AR10"] == pytest.approx(ar100, abs=1e-9)  # <= 10 detections per (video, category) here
    assert res.metrics["AR1"] == pytest.approx(ar1, abs=1e-9)


# ---------------------------------------------------------------- evaluator
def _vis_dataset():
    a, b = box(H, W, 0, 8, 0, 8), box(H, W, 10, 18, 10, 18)
    recs = [
        record(10, [{1: (0, a), 2: (1, b)}, {1: (0, a)}, None], H, W),
        record(11, [{}, {}, {}], H, W),  # a video without any GT instance
    ]
    return recs, a, b


def test_evaluator_end_to_end_with_submission(tmp_path):
    recs, a, b = _vis_dataset()
    preds = {
        10: instances(H, W, [(0, 0.9, [a, a, None]), (1, 0.8, [b, None, None])]),
        11: instances(H, W, [(1, 0.3, [b, b, b])]),
    }
    with registered(recs, thing_classes=["cat", "dog"], thing_dataset_id_to_contiguous_id={3: 0, 7: 1}, has_gt=True) as n:
        res = run_evaluator(YTVISEvaluator, n, preds, str(tmp_path))["ytvis"]
    # category 0: one perfect track. category 1: a perfect track (0.8) ranked above an FP of video 11 (0.3)
    assert res["AP"] == pytest.approx(1.0)
    assert res["AP-cat"] == pytest.approx(1.0) and res["AP-dog"] == pytest.approx(1.0)
    assert res["IDs"] == 0 and res["MOTA"] == pytest.approx(1.0)
    sub = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["category_id"] for r in sub) == [3, 7, 7]
    assert all(len(r["segmentations"]) == 3 for r in sub) and sub[0]["segmentations"][2] is None
    with zipfile.ZipFile(tmp_path / "results.zip") as zf:
        assert zf.namelist() == ["results.json"]


def test_evaluator_no_predictions_and_gt_less_split(tmp_path):
    recs, _, _ = _vis_dataset()
    with registered(recs, thing_classes=["cat", "dog"], has_gt=True) as n:
        res = run_evaluator(YTVISEvaluator, n, {})["ytvis"]
    assert res["AP"] == 0.0 and res["AR10"] == 0.0
    with registered(recs, thing_classes=["cat", "dog"], has_gt=False) as n:
        out = run_evaluator(YTVISEvaluator, n, {10: instances(H, W, [(0, 0.5, [GT_BOX, None, None])])}, str(tmp_path))
    assert out == {}
    assert len(json.loads((tmp_path / "results.json").read_text())) == 1


def test_evaluator_rejects_unknown_video_and_wrong_resolution():
    recs, a, _ = _vis_dataset()
    with registered(recs, thing_classes=["cat", "dog"]) as n:
        with pytest.raises(ValueError, match="video_id 99"):
            run_evaluator(YTVISEvaluator, n, {99: instances(H, W, [(0, 0.5, [a, a, a])])})
        with pytest.raises(ValueError, match="original resolution"):
            run_evaluator(YTVISEvaluator, n, {10: instances(H // 2, W, [(0, 0.5, [box(H // 2, W, 0, 2, 0, 2)] * 3)])})
