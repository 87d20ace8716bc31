"""The paper-003 temporal-consistency metrics as the VIS evaluator reports them (paper 003)."""
from __future__ import annotations

import numpy as np
import pytest

from vidseg.evaluation.consistency import evaluate_consistency
from vidseg.evaluation.ytvis import ytvis_metrics
from vidseg.structures.video_instances import VideoInstances
from vidseg.structures.masks import encode_mask

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
H, W, T = 20, 220, 6


def rect(x1: int, y0: int = 0, y1: int = 10, x0: int = 0) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


A = rect(100)  # object 1: rows 0-9, cols 0-99
B = rect(60, y0=12, y1=18)  # object 2


def record(objects: dict[int, list[np.ndarray]]) -> dict:
    anns = [[{"id": i, "category_id": 0, "segmentation": encode_mask(m[t]), "bbox": [0, 0, 1, 1], "bbox_mode": 1,
              "iscrowd": 0} for i, m in objects.items()] for t in range(T)]
    return {"video_id": "v", "file_names": [f"{t}.jpg" for t in range(T)], "height": H, "width": W, "length": T,
            "annotations": anns}


def hyps(tracks: list[list[np.ndarray]], scores: list[float]) -> VideoInstances:
    return VideoInstances.from_dense(np.stack([np.stack(tr) for tr in tracks]), scores, [0] * len(tracks))


def metrics(objects, tracks, scores, tau=0.5):
    return evaluate_consistency([record(objects)], {"v": hyps(tracks, scores)}, thresholds=(tau,))[tau]


def test_perfect_predictions():
    m = metrics({1: [A] * T, 2: [B] * T}, [[A] * T, [B] * T], [0.9, 0.8])
    assert m["IDF1"] == m["IDP"] == m["IDR"] == pytest.approx(1.0)
    assert m["MOTA"] == pytest.approx(1.0) and m["IDs"] == 0


def test_swapping_two_hypotheses_halfway_gives_two_switches():
    half = T // 2
    swap = [[A] * half + [B] * half, [B] * half + [A] * half]
    m = metrics({1: [A] * T, 2: [B] * T}, swap, [0.9, 0.8])
    assert m["IDs"] == 2 and m["IDF1"] < 1.0
    assert m["MOTA"] == pytest.approx(1 - 2 / (2 * T))
    assert m["IDF1"] == pytest.approx(0.5)  # each object keeps its best hypothesis for half of its frames


def test_box_iou_threshold_at_one_half():
    matched = metrics({1: [A] * T}, [[rect(196)] * T], [0.9])  # box IoU 100/196 = 0.510
    assert matched["num_false_positives"] == 0 and matched["num_misses"] == 0
    unmatched = metrics({1: [A] * T}, [[rect(204)] * T], [0.9])  # box IoU 100/204 = 0.490
    assert unmatched["num_false_positives"] == T and unmatched["num_misses"] == T
    assert unmatched["MOTA"] == pytest.approx(1 - 2 * T / T)


def test_predictions_below_the_score_threshold_are_ignored():
    far = rect(220, y0=15, y1=20, x0=150)
    m = metrics({1: [A] * T}, [[A] * T, [far] * T], [0.9, 0.4])
    assert m["num_false_positives"] == 0 and m["IDP"] == pytest.approx(1.0)
    low = metrics({1: [A] * T}, [[A] * T, [far] * T], [0.9, 0.4], tau=0.3)
    assert low["num_false_positives"] == T


def test_vis_evaluator_reports_consistency_beside_ap():
    values, details = ytvis_metrics([record({1: [A] * T})], {"v": hyps([[A] * T], [0.9])}, ["thing"])
    assert values["AP"] == pytest.approx(1.0)
    for key in ("IDF1", "MOTA", "IDP", "IDR", "IDs"):
        assert key in values
    assert values["IDF1"] == pytest.approx(1.0) and values["IDs"] == 0
    assert set(details["consistency_by_score_threshold"]) == {"0.3", "0.5", "0.7"}
