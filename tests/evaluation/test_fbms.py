"""FBMS P / R / F: hand-computed paper-001 metric (static false positives cost) and the official variant."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

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


# ------------------------------------------------------------------ official variant: empty clusters
def _empty_cluster_case():
    """4x4 frame: GT A = row 0, B = row 1, C = row 2, background = row 3. Prediction labels: 1 = row 0, 3 = row 1,
    0 = rows 2-3; label 2 has no pixels but is below the max label, so the official tool counts it as a cluster.

    By hand: A-1 and B-3 give P = R = 1; cluster 0 (8 px, half C, half background) takes C or the background
    with P = 0.5, R = 1 (F 2/3 either way); the other region gets the empty cluster 2: P = 0, R = 0 (without it,
    a dummy cluster would give P = 1). Means over the 4 regions: P = 2.5 / 4 = 0.625, R = 3 / 4 = 0.75,
    F = 2PR / (P + R) = 15 / 22; objects with F > 0.75: A, B and no background -> 2 - 1 = 1."""
    gt = np.array([[1] * 4, [2] * 4, [3] * 4, [0] * 4], np.uint8)
    pred = np.array([[1] * 4, [3] * 4, [0] * 4, [0] * 4], np.uint8)
    return gt, pred


def _check_empty_cluster_metrics(m):
    assert m["P_official"] == pytest.approx(0.625)
    assert m["R_official"] == pytest.approx(0.75)
    assert m["F_official"] == pytest.approx(15 / 22)
    assert m["objects_F>=0.75"] == 1 and m["visible_objects"] == 3


def test_official_empty_cluster_in_the_cli(tmp_path):
    from vidseg.data.io.png import write_indexed_png
    from vidseg.evaluation.cli import main

    gt, pred = _empty_cluster_case()
    write_indexed_png(tmp_path / "gt" / "seq" / "seq_01.png", gt)
    write_indexed_png(tmp_path / "pred" / "seq" / "seq_01.png", pred)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["fbms", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")]) == 0
    _check_empty_cluster_metrics(json.loads(out.getvalue()))


@pytest.mark.parametrize("with_track_2", [False, True])
def test_official_empty_cluster_in_the_evaluator(with_track_2):
    gt, pred = _empty_cluster_case()
    objs = {i: (0, (gt == i).astype(np.uint8)) for i in (1, 2, 3)}
    rec = record("seq", [objs, None], 4, 4, eval_frames=[0])
    tracks = [(-1, 0.9, [(pred == 1).astype(np.uint8), None]), (-1, 0.8, [(pred == 3).astype(np.uint8), None])]
    ids = [1, 3]
    if with_track_2:  # a track with pixels only on a frame without ground truth: still an empty cluster
        corner = np.zeros((4, 4), np.uint8)
        corner[0, 0] = 1
        tracks.append((-1, 0.7, [None, corner]))
        ids.append(2)
    vi = instances(4, 4, tracks, track_ids=ids)
    with registered([rec], thing_classes=["object"]) as name:
        m = run_evaluator(FBMSEvaluator, name, {"seq": vi})["fbms"]
    _check_empty_cluster_metrics(m)
    assert m["P"] == pytest.approx(1.0) and m["R"] == pytest.approx(8 / 12)  # the paper metric ignores them
