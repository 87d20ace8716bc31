"""FBMS P / R / F: hand-computed paper-001 metric (static false positives cost) and the official variant."""
from __future__ import annotations

import numpy as np
import pytest

from vidseg.evaluation import FBMSEvaluator
from vidseg.evaluation.fbms import contingency, evaluate_video, official_prf, proposed_prf, summarize_fbms

from eval_testutils import instances, record, registered, run_evaluator

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

H, W = 10, 10


def _volumes():
    """2 frames of 10x10 = 200 px: GT A (20 px), B (10 px); prediction 1 = A, 2 = a static 30 px false positive."""
    gt = np.zeros((2, H, W), np.int32)
    pred = np.zeros_like(gt)
    gt[:, 0:2, 0:5] = 1        # A: 2 x 10 px
    gt[0, 5, 0:10] = 2         # B: 10 px in frame 0
    pred[:, 0:2, 0:5] = 1      # track 1 == A
    pred[:, 7:10, 0:5] = 2     # static FP: 2 x 15 px, on GT background
    return gt, pred


def test_contingency_counts():
    gt, pred = _volumes()
    np.testing.assert_array_equal(contingency(gt, pred), [[140, 0, 30], [0, 20, 0], [10, 0, 0]])


def test_proposed_metric_penalises_static_false_positives():
    gt, pred = _volumes()
    res = proposed_prf(contingency(gt, pred))
    # matched intersection 20 (A<->1); predicted foreground 50; GT foreground 30
    assert res["P"] == pytest.approx(20 / 50) and res["R"] == pytest.approx(20 / 30)
    assert res["F"] == pytest.approx(2 * 0.4 * (2 / 3) / (0.4 + 2 / 3))
    clean = pred.copy()
    clean[clean == 2] = 0
    res = proposed_prf(contingency(gt, clean))
    assert (res["P"], res["R"], res["F"]) == pytest.approx((1.0, 2 / 3, 0.8))
    empty = proposed_prf(contingency(gt, np.zeros_like(pred)))
    assert (empty["P"], empty["R"], empty["F"]) == (0.0, 0.0, 0.0)


def test_official_metric_hand_computed():
    gt, pred = _volumes()
    res = official_prf(contingency(gt, pred))
    # pairs: background<->cluster 0 (P 140/150, R 140/170), A<->1 (1, 1), B<->2 (0, 0)
    p = (140 / 150 + 1 + 0) / 3
    r = (140 / 170 + 1 + 0) / 3
    assert res["P"] == pytest.approx(p, rel=1e-6) and res["R"] == pytest.approx(r, rel=1e-6)
    assert res["F"] == pytest.approx(2 * p * r / (p + r), rel=1e-6)
    assert res["objects"] == 1 and res["visible_objects"] == 2  # F: bg 0.875, A 1.0, B 0 -> 2 above 0.75, minus bg


def test_official_metric_dummy_rows_and_columns():
    gt, _ = _volumes()
    # no prediction: one cluster, three regions -> two dummy clusters count as P = 1, R = 0
    res = official_prf(contingency(gt, np.zeros_like(gt)))
    assert res["P"] == pytest.approx((170 / 200 + 2) / 3) and res["R"] == pytest.approx(1 / 3)
    assert res["objects"] == 0
    # more clusters than regions: extra clusters are not penalised (only background region in the GT)
    pred = np.zeros_like(gt)
    pred[:, 0:2, 0:2] = 1
    pred[:, 5:7, 5:7] = 2
    res = official_prf(contingency(np.zeros_like(gt), pred))
    assert res["P"] == pytest.approx(184 / 184) and res["R"] == pytest.approx(184 / 200)


def test_dataset_summary_means():
    gt, pred = _volumes()
    a = evaluate_video(gt, pred)
    clean = pred.copy()
    clean[clean == 2] = 0
    b = evaluate_video(gt, clean)
    s = summarize_fbms({"a": a, "b": b})
    assert s["F"] == pytest.approx((a["proposed"]["F"] + b["proposed"]["F"]) / 2)  # mean of F, not F of means
    mp = (a["official"]["P"] + b["official"]["P"]) / 2
    mr = (a["official"]["R"] + b["official"]["R"]) / 2
    assert s["F_official"] == pytest.approx(2 * mp * mr / (mp + mr))  # F of the means
    assert s["objects_F>=0.75"] == a["official"]["objects"] + b["official"]["objects"]


def test_evaluator_uses_annotated_frames_only():
    gt, pred = _volumes()
    frames = [{1: (0, gt[0] == 1), 2: (0, gt[0] == 2)}, None, {1: (0, gt[1] == 1)}]  # frame 1 not annotated
    rec = record("v", frames, H, W)
    junk = np.ones((H, W), bool)  # a full-frame track on the unannotated frame only must not count
    vi = instances(H, W, [(-1, 0.9, [pred[0] == 1, None, pred[1] == 1]), (-1, 0.5, [pred[0] == 2, None, pred[1] == 2]),
                          (-1, 0.1, [None, junk, None])])
    with registered([rec, record("e", [{}, {}], H, W)], has_gt=True) as n:
        res = run_evaluator(FBMSEvaluator, n, {"v": vi})["fbms"]
    ref_v = evaluate_video(gt, pred)
    # video "e": no GT, no prediction -> P = R = F = 0 as in the reference implementation
    assert res["F"] == pytest.approx(ref_v["proposed"]["F"] / 2)
    assert res["objects_F>=0.75"] == 1
