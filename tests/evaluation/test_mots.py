"""MOTS metrics: a hand-computed sequence, ignore regions, overlap resolution, and parity with TrackEval."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from vidseg.evaluation import MOTSEvaluator
from vidseg.evaluation.cli import main as cli_main
from vidseg.evaluation.mots_metrics import evaluate_mots

from eval_testutils import box, instances, record, registered, run_evaluator
from vidseg.structures.masks import decode_mask, encode_mask, make_disjoint

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

H, W = 20, 40


def test_hand_computed_smotsa_with_switch_and_ignore_region():
    a = box(H, W, 2, 12, 2, 12)  # 100 px
    half = box(H, W, 2, 12, 2, 7)  # 50 px inside a -> IoU 0.5, still a match
    ign = box(H, W, 0, 10, 30, 40)
    in_ignore = box(H, W, 2, 8, 32, 38)
    gt = [[(1, 0, encode_mask(a))]] * 4
    tr = [
        [(5, 0, encode_mask(a))],
        [(5, 0, encode_mask(half)), (8, 0, encode_mask(in_ignore))],  # unmatched, >50% in ignore: removed
        [(6, 0, encode_mask(a))],  # identity switch
        [(7, 0, encode_mask(box(H, W, 14, 18, 14, 18)))],  # FP + FN
    ]
    ignore = [None, encode_mask(ign), None, None]
    m, _ = evaluate_mots({"s": (gt, tr, ignore)}, {0: "car"})
    # TP 3 (IoU 1, 0.5, 1), FN 1, FP 1, IDSW 1; |GT| = 4
    assert (m["TP"], m["FN"], m["FP"], m["IDSW"]) == (3, 1, 1, 1)
    assert m["sMOTSA"] == pytest.approx((2.5 - 1 - 1) / 4)
    assert m["MOTSA"] == pytest.approx((3 - 1 - 1) / 4)
    assert m["MOTSP"] == pytest.approx(2.5 / 3)
    assert m["sMOTSA-car"] == m["sMOTSA"]


def test_overlapping_predictions_resolved_by_score():
    a, b = box(H, W, 0, 10, 0, 10), box(H, W, 5, 15, 5, 15)
    out = make_disjoint([encode_mask(a), encode_mask(b)], [0.4, 0.9])
    assert decode_mask(out[1][1]).sum() == 100  # the higher score keeps its pixels
    assert decode_mask(out[0][1]).sum() == 100 - 25
    assert [k for k, _ in make_disjoint([encode_mask(a), encode_mask(a)], [0.4, 0.9])] == [1]
    assert [k for k, _ in make_disjoint([encode_mask(a), encode_mask(a)], [0.5, 0.5])] == [1]  # tie: later wins


def test_evaluator_per_class_and_empty_inputs(tmp_path):
    car, ped = box(H, W, 0, 8, 0, 8), box(H, W, 10, 18, 20, 26)
    rec = record("0001", [{1001: (0, car), 2001: (1, ped)}] * 3, H, W)
    with registered([rec, record("0002", [{}, {}], H, W)], thing_classes=["car", "pedestrian"],
                    thing_dataset_id_to_contiguous_id={1: 0, 2: 1}) as n:
        vi = instances(H, W, [(0, 0.9, [car] * 3), (1, 0.8, [ped, ped, None])])
        res = run_evaluator(MOTSEvaluator, n, {"0001": vi}, str(tmp_path))["mots"]
        assert res["sMOTSA-car"] == pytest.approx(1.0) and res["MOTSA-pedestrian"] == pytest.approx(2 / 3)
        assert res["TP"] == 5 and res["FN"] == 1
        txt = (tmp_path / "mots_txt" / "0001.txt").read_text().splitlines()
        assert len(txt) == 5 and txt[0].split()[2] == "1" and txt[1].split()[2] == "2"
        none = run_evaluator(MOTSEvaluator, n, {})["mots"]
        assert none["TP"] == 0 and none["FN"] == 6 and none["sMOTSA"] == 0.0


def _label_map(rng, boxes):
    lab = np.zeros((H, W), np.int32)
    for lid, (y, x, hh, ww) in boxes:
        lab[max(0, y): y + hh, max(0, x): x + ww] = lid
    return lab


def _write_sequences(rng, gt_dir, tr_dir, n_seq=2, n_frames=10):
    """Random KITTI-MOTS sequences (disjoint masks by construction) written as txt; returns {seq: length}."""
    info = {}
    for s in range(n_seq):
        seq = f"{s:04d}"
        objs = [(1001 + k, 1) for k in range(2)] + [(2001 + k, 2) for k in range(2)]
        pos = {o: [int(rng.integers(0, H - 6)), int(rng.integers(0, W - 8))] for o, _ in objs}
        gt_lines, tr_lines = [], []
        for t in range(n_frames):
            for o, _ in objs:
                pos[o][1] = int(np.clip(pos[o][1] + rng.integers(-2, 3), 0, W - 8))
            present = [(o, c) for o, c in objs if rng.random() > 0.15]
            boxes = [(10000, (0, 30, 6, 10))] + [(o, (*pos[o], 6, 8)) for o, _ in present]
            lab = _label_map(rng, boxes)
            for lid, cls in [(10000, 10)] + present:
                m = lab == lid
                if m.any():
                    gt_lines.append(f"{t} {lid} {cls} {H} {W} {encode_mask(m)['counts']}")
            tboxes, tcls = [], {}
            for o, c in present:
                if rng.random() < 0.8:
                    tid = o if rng.random() > 0.2 else o + 50  # identity switches
                    y, x = pos[o][0] + int(rng.integers(-1, 2)), pos[o][1] + int(rng.integers(-2, 3))
                    tboxes.append((tid, (y, x, 6, 8)))
                    tcls[tid] = c if rng.random() > 0.1 else 3 - c
            if rng.random() < 0.4:
                tboxes.append((900, (int(rng.integers(0, 6)), 31, 4, 6)))  # often inside the ignore region
                tcls[900] = 1
            if rng.random() < 0.3:
                tboxes.append((901, (int(rng.integers(0, H - 4)), int(rng.integers(0, W - 6)), 4, 6)))
                tcls[901] = 2
            tlab = _label_map(rng, tboxes)
            for tid, _ in tboxes:
                m = tlab == tid
                if m.any():
                    tr_lines.append(f"{t} {tid} {tcls[tid]} {H} {W} {encode_mask(m)['counts']}")
        (gt_dir / f"{seq}.txt").write_text("\n".join(gt_lines) + "\n")
        (tr_dir / f"{seq}.txt").write_text("\n".join(tr_lines) + "\n")
        info[seq] = n_frames
    return info


@pytest.mark.parametrize("seed", range(3))
def test_cli_matches_trackeval(tmp_path, seed):
    trackeval = pytest.importorskip("trackeval", reason="trackeval is a test-only dependency")
    rng = np.random.default_rng(seed)
    gt_dir = tmp_path / "gt" / "label_02"
    tr_dir = tmp_path / "trackers" / "ours" / "data"
    gt_dir.mkdir(parents=True)
    tr_dir.mkdir(parents=True)
    info = _write_sequences(rng, gt_dir, tr_dir)
    quiet = {"PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False, "OUTPUT_SUMMARY": False,
             "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "DISPLAY_LESS_PROGRESS": True}
    dataset = trackeval.datasets.KittiMOTS({"GT_FOLDER": str(tmp_path / "gt"), "TRACKERS_FOLDER": str(tmp_path / "trackers"),
                                            "SEQ_INFO": info, "PRINT_CONFIG": False, "TRACKERS_TO_EVAL": ["ours"]})
    cfg = {"PRINT_CONFIG": False}
    metrics = [trackeval.metrics.HOTA(cfg), trackeval.metrics.CLEAR(cfg), trackeval.metrics.Identity(cfg)]
    with redirect_stdout(io.StringIO()):
        ref, _ = trackeval.Evaluator(quiet).evaluate([dataset], metrics)
    ref = ref["KittiMOTS"]["ours"]["COMBINED_SEQ"]
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["mots", "--gt", str(gt_dir), "--pred", str(tr_dir)]) == 0
    ours = json.loads(out.getvalue())
    for cls in ("car", "pedestrian"):
        clear, ident, hota = ref[cls]["CLEAR"], ref[cls]["Identity"], ref[cls]["HOTA"]
        assert ours[f"sMOTSA-{cls}"] == pytest.approx(clear["sMOTA"])
        assert ours[f"MOTSA-{cls}"] == pytest.approx(clear["MOTA"])
        assert ours[f"MOTSP-{cls}"] == pytest.approx(clear["MOTP"])
        assert (ours[f"TP-{cls}"], ours[f"FP-{cls}"], ours[f"FN-{cls}"], ours[f"IDSW-{cls}"]) == (
            clear["CLR_TP"], clear["CLR_FP"], clear["CLR_FN"], clear["IDSW"])
        assert ours[f"IDF1-{cls}"] == pytest.approx(ident["IDF1"])
        assert ours[f"HOTA-{cls}"] == pytest.approx(float(np.mean(hota["HOTA"])))
    # KITTI-MOTS has no combined class in TrackEval; combine its per-class results the "detection averaged" way
    hota_m, clear_m, _ = metrics
    comb_clear = clear_m.combine_classes_det_averaged({c: ref[c]["CLEAR"] for c in ("car", "pedestrian")})
    comb_hota = hota_m.combine_classes_det_averaged({c: ref[c]["HOTA"] for c in ("car", "pedestrian")})
    assert ours["sMOTSA"] == pytest.approx(comb_clear["sMOTA"])
    assert ours["IDSW"] == comb_clear["IDSW"]
    assert ours["HOTA"] == pytest.approx(float(np.mean(comb_hota["HOTA"])))


def test_cli_rejects_resolution_mismatch_and_overlaps(tmp_path):
    from vidseg.data.io.kitti_mots import write_kitti_mots_txt

    a = box(H, W, 0, 8, 0, 8)
    write_kitti_mots_txt(tmp_path / "gt" / "0000.txt", {0: [(1001, 1, encode_mask(a))]})
    write_kitti_mots_txt(tmp_path / "pr" / "0000.txt", {0: [(1, 1, encode_mask(box(H * 2, W, 0, 8, 0, 8)))]})
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert cli_main(["mots", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pr")]) == 2
    assert "original resolution" in err.getvalue()
    write_kitti_mots_txt(tmp_path / "pr" / "0000.txt", {0: [(1, 1, encode_mask(a)), (2, 1, encode_mask(a))]})
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert cli_main(["mots", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pr")]) == 2
    assert "overlapping masks" in err.getvalue()
