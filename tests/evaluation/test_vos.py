"""J&F: hand-computed boundary / region values, DAVIS and YouTube-VOS rules, parity with vos-benchmark."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

from vidseg.evaluation import VOSEvaluator
from vidseg.evaluation.vos_metrics import boundary_radius, disk, evaluate_objects, f_measure, jaccard, seg2bmap, statistics
from vidseg.evaluation.vos_sequences import PNGLabels, RLELabels, SequenceJob, evaluate_sequence, run_jobs, summarize

from eval_testutils import box, instances, record, registered, run_evaluator
from vidseg.structures.masks import encode_mask

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def dot(h, w, y, x):
    m = np.zeros((h, w), bool)
    m[y, x] = True
    return m


def test_disk_radius_and_seg2bmap():
    np.testing.assert_array_equal(disk(1), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    assert disk(8).sum() == 197  # lattice points with x² + y² <= 64
    assert boundary_radius(480, 854) == 8 and boundary_radius(1080, 1920) == 18
    # a single pixel's boundary is the 2x2 block towards the origin
    b = seg2bmap(dot(6, 6, 3, 3))
    assert set(zip(*np.nonzero(b))) == {(2, 2), (2, 3), (3, 2), (3, 3)}
    # a mask filling the image has an empty boundary (the toolkit's last row / column rules)
    assert not seg2bmap(np.ones((4, 5), bool)).any()


def test_f_measure_hand_computed():
    h, w = 20, 20  # diagonal 28.3 -> tolerance ceil(0.226) = 1 px
    r = boundary_radius(h, w)
    assert r == 1
    g = dot(h, w, 5, 5)  # boundary {4,5} x {4,5}
    # prediction two columns right: boundary {4,5} x {6,7}; column 6 within 1 px of column 5, column 7 not
    assert f_measure(g, dot(h, w, 5, 7), radius=r) == pytest.approx(0.5)
    assert f_measure(g, dot(h, w, 5, 9), radius=r) == 0.0
    assert f_measure(g, g, radius=r) == 1.0
    assert f_measure(g, np.zeros_like(g), radius=r) == 0.0
    assert f_measure(np.zeros_like(g), np.zeros_like(g), radius=r) == 1.0
    assert jaccard(np.zeros_like(g), np.zeros_like(g)) == 1.0
    assert jaccard(box(h, w, 0, 4, 0, 4) > 0, box(h, w, 0, 4, 2, 6) > 0) == pytest.approx(8 / 24)


def brute_f(g, p, r):
    """Full-frame F with a per-pixel distance test (independent of the crop and of OpenCV)."""
    bg, bp = seg2bmap(g), seg2bmap(p)
    if not bg.any() and not bp.any():
        return 1.0
    if not bg.any() or not bp.any():
        return 0.0
    pg, pp = np.argwhere(bg), np.argwhere(bp)
    d = ((pp[:, None, :] - pg[None, :, :]) ** 2).sum(-1)
    prec = (d.min(1) <= r * r).mean()
    rec = (d.min(0) <= r * r).mean()
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


@pytest.mark.parametrize("seed", range(6))
def test_cropped_f_equals_full_frame_brute_force(seed):
    rng = np.random.default_rng(seed)
    h, w = 40, 70
    for _ in range(10):
        g = np.zeros((h, w), bool)
        p = np.zeros((h, w), bool)
        for m in (g, p):  # blobs, some touching the image border
            y, x = rng.integers(-5, h - 2), rng.integers(-5, w - 2)
            m[max(0, y): y + rng.integers(2, 20), max(0, x): x + rng.integers(2, 30)] = True
            m ^= rng.random((h, w)) < 0.02
        r = int(rng.integers(1, 6))
        assert f_measure(g, p, radius=r) == pytest.approx(brute_f(g, p, r))


def test_statistics_hand_computed():
    # 3 values: bins (toolkit rounding) = v[0:2], v[1:2], v[1:3], v[2:3] -> decay = mean(v0, v1) - v2
    m, rec, dec = statistics([0.9, 0.5, 0.2])
    assert m == pytest.approx(1.6 / 3) and rec == pytest.approx(1 / 3) and dec == pytest.approx(0.7 - 0.2)
    # 8 values: edges round(linspace(1, 8, 5)) - 1 = [0, 2, 4, 5, 7] -> first bin v[0:3], last v[5:8]
    v = np.arange(8) / 10
    assert statistics(v)[2] == pytest.approx(v[0:3].mean() - v[5:8].mean())
    assert all(np.isnan(x) for x in statistics([]))


def _davis_records(h=24, w=32):
    o1 = [box(h, w, 2, 10, 2 + t, 10 + t) for t in range(5)]
    o2 = [box(h, w, 14, 20, 20, 28) for _ in range(5)]
    frames = [{1: (0, o1[t]), 2: (0, o2[t])} for t in range(5)]
    return [record("seqA", frames, h, w)], o1, o2


def test_davis_rules_first_last_excluded_and_both_empty_scores_one():
    h, w = 24, 24
    g = box(h, w, 4, 12, 4, 12)
    gt = RLELabels(h, w, [[(1, _rle(g))]] * 3 + [[]] + [[(1, _rle(g))]])
    # frame 0 and 4 (excluded) are wrong; frame 1 perfect; frame 2 half; frame 3: both empty -> 1
    half = box(h, w, 4, 12, 4, 8)
    pred = RLELabels(h, w, [[], [(1, _rle(g))], [(1, _rle(half))], [], []])
    res = evaluate_sequence(SequenceJob("s", gt, pred, list(range(5))), "davis")
    j, _ = res.objects[1]
    np.testing.assert_allclose(j, [1.0, 0.5, 1.0])


def _rle(m):

    return encode_mask(m)


def test_void_counts_as_background_and_unknown_prediction_id_is_an_error():
    h, w = 24, 24
    g = box(h, w, 4, 12, 4, 12)
    void = box(h, w, 4, 12, 12, 16)  # 32 px of void next to the object
    frames = [{1: (0, g)}] * 3
    rec = record("s", frames, h, w, ignore=[_rle(void)] * 3)
    vi = instances(h, w, [(0, 1.0, [g | void] * 3)])
    with registered([rec], vos_protocol="davis", thing_classes=["object"]) as n:
        res = run_evaluator(VOSEvaluator, n, {"s": vi}, num_workers=1)["vos"]
        assert res["J-Mean"] == pytest.approx(64 / 96)  # the void pixels are false positives
        bad = instances(h, w, [(0, 1.0, [g] * 3), (0, 0.5, [box(h, w, 20, 22, 0, 2)] * 3)], track_ids=[1, 7])
        with pytest.raises(ValueError, match="object id 7"):
            run_evaluator(VOSEvaluator, n, {"s": bad}, num_workers=1)


def test_ytvos_late_object_scored_after_first_appearance():
    h, w = 20, 20
    a, b = box(h, w, 0, 6, 0, 6), box(h, w, 10, 16, 10, 16)
    gt_frames = [{1: (0, a)}, None, {1: (0, a), 2: (0, b)}, None, {1: (0, a), 2: (0, b)}, {1: (0, a)}]
    rec = record("y", gt_frames, h, w, unseen_object_ids=[2])
    pred = instances(h, w, [(0, 0.9, [a] * 6), (0, 0.8, [None, None, b, b, None, b])], track_ids=[1, 2])
    with registered([rec], vos_protocol="ytvos", thing_classes=["object"]) as n:
        res = run_evaluator(VOSEvaluator, n, {"y": pred}, num_workers=1)["vos"]
    # object 1: annotated frames 2, 4, 5 after its first frame, all perfect; object 2: frames 4 (missed, J 0)
    # and 5 (GT empty, prediction not: J 0)
    assert res["J-seen"] == pytest.approx(1.0) and res["J-unseen"] == pytest.approx(0.0)
    assert res["G"] == pytest.approx((1 + 1 + 0 + 0) / 4)
    assert res["J-Mean"] == pytest.approx(0.5)


def test_binary_mode_unions_tracks(tmp_path):
    from vidseg.data.io.png import read_indexed_png

    h, w = 20, 20
    a, b = box(h, w, 0, 6, 0, 6), box(h, w, 10, 16, 10, 16)
    rec = record("m", [{1: (0, a), 2: (0, b)}] * 3, h, w)
    pred = instances(h, w, [(0, 0.9, [a] * 3), (0, 0.8, [b] * 3)], track_ids=[5, 9])  # ids differ from GT
    with registered([rec], vos_protocol="davis_binary") as n:
        res = run_evaluator(VOSEvaluator, n, {"m": pred}, str(tmp_path), num_workers=1)["vos"]
    assert res["J&F-Mean"] == pytest.approx(1.0)
    np.testing.assert_array_equal(read_indexed_png(tmp_path / "Annotations" / "m" / "00001.png"), a | b)


def test_evaluator_writes_png_tree_and_handles_no_predictions(tmp_path):
    from vidseg.data.io.png import read_indexed_png

    recs, o1, o2 = _davis_records()
    with registered(recs, vos_protocol="davis", has_gt=True) as n:
        res = run_evaluator(VOSEvaluator, n, {}, str(tmp_path), num_workers=1)["vos"]
        assert res["J-Mean"] == 0.0 and res["F-Mean"] == 0.0
        pred = instances(24, 32, [(0, 0.9, o1), (0, 0.8, o2)])
        res = run_evaluator(VOSEvaluator, n, {"seqA": pred}, str(tmp_path), num_workers=1)["vos"]
    assert res["J&F-Mean"] == pytest.approx(1.0) and res["J-Decay"] == 0.0
    png = read_indexed_png(tmp_path / "Annotations" / "seqA" / "00003.png")
    np.testing.assert_array_equal(png, o1[3] * 1 + o2[3] * 2)
    with zipfile.ZipFile(tmp_path / "submission.zip") as zf:
        assert "Annotations/seqA/00000.png" in zf.namelist() and len(zf.namelist()) == 5
    with registered(recs, vos_protocol="davis", has_gt=False) as n:
        assert run_evaluator(VOSEvaluator, n, {"seqA": pred}, str(tmp_path), num_workers=1) == {}


def _random_sequence(rng, t=7, h=48, w=64, k=3):
    gt = np.zeros((t, h, w), np.uint8)
    pred = np.zeros((t, h, w), np.uint8)
    for obj in range(1, k + 1):
        y, x = rng.integers(0, h - 16), rng.integers(0, w - 16)
        for f in range(t):
            dy, dx = rng.integers(-2, 3, 2)
            y, x = int(np.clip(y + dy, 0, h - 12)), int(np.clip(x + dx, 0, w - 12))
            gt[f, y: y + 12, x: x + 12] = obj
            if rng.random() < 0.85:
                oy, ox = rng.integers(-3, 4, 2)
                pred[f, max(0, y + oy): y + oy + 12, max(0, x + ox): x + ox + 12] = obj
    return gt, pred


def _write_pngs(root, name, vol):
    from vidseg.data.io.png import write_indexed_png

    paths = []
    for f, lab in enumerate(vol):
        p = root / name / f"{f:05d}.png"
        write_indexed_png(p, lab)
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("seed", range(3))
def test_per_object_j_and_f_match_vos_benchmark(tmp_path, seed):
    vb = pytest.importorskip("vos_benchmark.evaluator", reason="vos-benchmark is a test-only dependency")
    rng = np.random.default_rng(seed)
    gt, pred = _random_sequence(rng)
    ref = vb.Evaluator(name="s")
    for f in range(1, len(gt) - 1):  # vos-benchmark skips the first and last frames
        ref.feed_frame(pred[f], gt[f])
    ref_j, ref_f = ref.conclude()
    job = SequenceJob("s", PNGLabels(_write_pngs(tmp_path, "gt", gt), void_to_background=True),
                      PNGLabels(_write_pngs(tmp_path, "pred", pred)), list(range(len(gt))))
    _, details = summarize([evaluate_sequence(job, "davis")], "davis")
    objs = details["s"]["objects"]
    assert sorted(int(k) for k in objs) == sorted(int(k) for k in ref_j)
    for k in ref_j:
        assert objs[str(k)]["J-Mean"] * 100 == pytest.approx(ref_j[k], abs=1e-9)
        assert objs[str(k)]["F-Mean"] * 100 == pytest.approx(ref_f[k], abs=1e-9)


def test_multiprocess_equals_serial():
    rng = np.random.default_rng(7)
    jobs = []
    for i in range(3):
        gt, pred = _random_sequence(rng, t=5)
        h, w = gt.shape[1:]
        to_rle = lambda vol: RLELabels(h, w, [[(int(k), _rle(lab == k)) for k in np.unique(lab) if k] for lab in vol])
        jobs.append(SequenceJob(f"s{i}", to_rle(gt), to_rle(pred), list(range(len(gt)))))
    serial = summarize(run_jobs(jobs, "davis", num_workers=1), "davis")[0]
    parallel = summarize(run_jobs(jobs, "davis", num_workers=2), "davis")[0]
    assert serial == pytest.approx(parallel)


def test_evaluate_objects_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        evaluate_objects(np.zeros((2, 4, 4), np.uint8), np.zeros((2, 4, 5), np.uint8), {1: [0]})


def test_column_major_frames_give_the_same_scores():
    rng = np.random.default_rng(3)
    gt, pred = _random_sequence(rng, t=4)
    plan = {k: [0, 1, 2, 3] for k in (1, 2, 3)}
    c_order = evaluate_objects(gt, pred, plan)
    f_order = evaluate_objects(np.asfortranarray(gt.transpose(0, 2, 1)).transpose(0, 2, 1).copy(order="K"),
                               np.ascontiguousarray(pred.transpose(0, 2, 1)).transpose(0, 2, 1), plan)
    for k in plan:
        np.testing.assert_allclose(c_order[k][0], f_order[k][0])
        np.testing.assert_allclose(c_order[k][1], f_order[k][1])
