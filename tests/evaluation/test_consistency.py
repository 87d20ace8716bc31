"""Temporal-consistency (MOT on mask boxes) metrics: hand-computed case and parity with py-motmetrics."""
from __future__ import annotations

import numpy as np
import pytest

from vidseg.evaluation.consistency import evaluate_consistency, summarize_counts, video_counts

from eval_testutils import box, instances, record

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

H, W = 30, 30


def test_identity_switch_hand_computed():
    obj = box(H, W, 5, 15, 5, 15)
    rec = record("v", [{1: (0, obj)}] * 4, H, W)
    vi = instances(H, W, [
        (0, 0.9, [obj, obj, None, None]),   # hypothesis 0 covers frames 0-1
        (0, 0.8, [None, None, obj, obj]),   # hypothesis 1 takes over: one identity switch
        (0, 0.2, [box(H, W, 20, 28, 20, 28)] * 4),  # low score: only counted at tau = 0.1
    ])
    res = evaluate_consistency([rec], {"v": vi}, thresholds=(0.5, 0.1))
    m = res[0.5]
    assert m["IDs"] == 1 and m["num_misses"] == 0 and m["num_false_positives"] == 0
    assert m["MOTA"] == pytest.approx(1 - 1 / 4)
    # global assignment: object <-> hypothesis 0 (2 frames); IDTP 2, IDFN 2, IDFP 2
    assert m["IDF1"] == pytest.approx(0.5) and m["IDP"] == pytest.approx(0.5) and m["IDR"] == pytest.approx(0.5)
    low = res[0.1]
    assert low["num_false_positives"] == 4
    assert low["MOTA"] == pytest.approx(1 - (1 + 4) / 4)
    assert low["IDF1"] == pytest.approx(2 * 2 / (4 + 8))


def test_unannotated_frames_and_empty_video_are_skipped():
    obj = box(H, W, 5, 15, 5, 15)
    rec = record("v", [{1: (0, obj)}, None, {1: (0, obj)}], H, W)
    vi = instances(H, W, [(0, 0.9, [obj, box(H, W, 0, 3, 0, 3), obj])])
    m = evaluate_consistency([rec, record("e", [{}, {}], H, W)], {"v": vi}, thresholds=(0.5,))[0.5]
    assert m["num_objects"] == 2 and m["num_false_positives"] == 0 and m["MOTA"] == pytest.approx(1.0)


def _random_frames(rng, n_frames=12, n_obj=4, n_hyp=5):
    frames = []
    centers = rng.uniform(10, 90, size=(n_obj, 2))
    for _ in range(n_frames):
        centers += rng.normal(0, 3, size=centers.shape)
        oids = [i for i in range(n_obj) if rng.random() > 0.15]
        oboxes = np.array([[*centers[i] - 8, 16, 16] for i in oids]).reshape(-1, 4)
        hids, hboxes = [], []
        for i in oids:
            if rng.random() < 0.8:
                hid = int(rng.integers(0, n_hyp)) if rng.random() < 0.3 else i
                if hid not in hids:
                    hids.append(hid)
                    hboxes.append([*(centers[i] - 8 + rng.normal(0, 3, 2)), 16, 16])
        if rng.random() < 0.3 and n_hyp + 1 not in hids:
            hids.append(n_hyp + 1)
            hboxes.append([*rng.uniform(0, 90, 2), 10, 10])
        frames.append((oids, oboxes, hids, np.array(hboxes).reshape(-1, 4)))
    return frames


@pytest.mark.parametrize("seed", range(5))
def test_matches_motmetrics(seed):
    mm = pytest.importorskip("motmetrics", reason="py-motmetrics is a test-only dependency")
    from motmetrics.distances import boxiou

    rng = np.random.default_rng(seed)
    videos = [_random_frames(rng) for _ in range(3)]
    accs = []
    for frames in videos:
        acc = mm.MOTAccumulator(auto_id=True)
        for oids, ob, hids, hb in frames:
            if len(oids) and len(hids):
                dist = 1 - boxiou(ob[:, None], hb[None, :])
                dist = np.where(dist > 0.5, np.nan, dist)
            else:
                dist = np.empty((len(oids), len(hids)))
            acc.update(oids, hids, dist)
        accs.append(acc)
    names = ["idf1", "mota", "idp", "idr", "num_switches", "num_false_positives", "num_misses", "num_objects"]
    ref = mm.metrics.create().compute_many(accs, metrics=names, generate_overall=True).loc["OVERALL"]
    ours = summarize_counts([video_counts(f) for f in videos])
    assert ours["IDF1"] == pytest.approx(ref["idf1"])
    assert ours["MOTA"] == pytest.approx(ref["mota"])
    assert ours["IDP"] == pytest.approx(ref["idp"])
    assert ours["IDR"] == pytest.approx(ref["idr"])
    assert ours["IDs"] == ref["num_switches"]
    assert ours["num_false_positives"] == ref["num_false_positives"]
    assert ours["num_misses"] == ref["num_misses"]
    assert ours["num_objects"] == ref["num_objects"]
