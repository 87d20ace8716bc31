"""``python -m vidseg.evaluation``: official-format files in, one JSON object of metrics out."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from vidseg.data.io.png import write_indexed_png
from vidseg.evaluation.cli import main

from eval_testutils import box
from vidseg.structures.masks import encode_mask

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

H, W = 16, 24


def run(argv: list[str]) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, (json.loads(out.getvalue()) if code == 0 else None), err.getvalue()


def _ytvis_files(tmp_path: Path, pred_size=(H, W)) -> tuple[str, str]:
    a = box(H, W, 0, 6, 0, 6)
    gt = {
        "videos": [{"id": 1, "file_names": ["v/0.jpg", "v/1.jpg"], "height": H, "width": W, "length": 2}],
        "categories": [{"id": 5, "name": "duck"}],
        "annotations": [{"id": 1, "video_id": 1, "category_id": 5, "iscrowd": 0,
                         "segmentations": [encode_mask(a), None], "areas": [36, None]}],
    }
    pm = box(*pred_size, 0, 6, 0, 6)
    results = [{"video_id": 1, "category_id": 5, "score": 0.9, "segmentations": [encode_mask(pm), None]}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    return str(tmp_path / "gt.json"), str(tmp_path / "res.json")


def test_ytvis_cli_prints_official_names(tmp_path):
    gt, res = _ytvis_files(tmp_path)
    code, metrics, _ = run(["ytvis", "--gt", gt, "--pred", res, "--out", str(tmp_path / "d.json")])
    assert code == 0
    for k in ("AP", "AP50", "AP75", "APs", "AR1", "AR10"):
        assert metrics[k] == pytest.approx(1.0)
    assert metrics["APm"] is None  # undefined (-1 in the toolkit) -> null
    assert metrics["AP-duck"] == pytest.approx(1.0)
    assert "per_category_AP" in json.loads((tmp_path / "d.json").read_text())["details"]


def test_ytvis_cli_rejects_wrong_resolution_and_unknown_video(tmp_path):
    gt, res = _ytvis_files(tmp_path, pred_size=(H * 2, W * 2))
    code, _, err = run(["ytvis", "--gt", gt, "--pred", res])
    assert code == 2 and "original resolution" in err
    bad = json.loads(Path(res).read_text())
    bad[0]["video_id"] = 42
    Path(res).write_text(json.dumps(bad))
    code, _, err = run(["ytvis", "--gt", gt, "--pred", res])
    assert code == 2 and "video_id 42" in err


def _png_tree(root: Path, seqs: dict[str, np.ndarray]) -> str:
    for name, vol in seqs.items():
        for t, lab in enumerate(vol):
            write_indexed_png(root / name / f"{t:05d}.png", lab)
    return str(root)


def test_vos_cli_davis_layout(tmp_path):
    gt = np.zeros((4, H, W), np.uint8)
    gt[:, 2:8, 2:8] = 1
    gt[:, 10:14, 10:20] = 2
    gt[:, 0, :] = 255  # void row
    pred = np.where(gt == 255, 0, gt).astype(np.uint8)
    pred[2, 10:14, 10:20] = 0  # object 2 missed in frame 2
    code, m, _ = run(["vos", "--gt", _png_tree(tmp_path / "gt", {"s": gt}),
                      "--pred", _png_tree(tmp_path / "pred", {"s": pred}), "--workers", "1"])
    assert code == 0
    # evaluated frames 1, 2: object 1 J = 1, 1; object 2 J = 1, 0 -> mean over objects 0.75
    assert m["J-Mean"] == pytest.approx(0.75) and m["J-Recall"] == pytest.approx(0.75)
    assert set(m) >= {"J&F-Mean", "J-Decay", "F-Mean", "F-Recall", "F-Decay"}
    (tmp_path / "pred" / "s" / "00003.png").unlink()
    code, _, err = run(["vos", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")])
    assert code == 2 and "00003.png" in err


def test_fbms_cli(tmp_path):
    gt = np.zeros((2, H, W), np.uint8)
    gt[:, 2:6, 2:6] = 1
    pred = gt.copy()
    pred[:, 10:12, 10:12] = 3  # a static false positive
    code, m, _ = run(["fbms", "--gt", _png_tree(tmp_path / "gt", {"cars1": gt}),
                      "--pred", _png_tree(tmp_path / "pred", {"cars1": pred})])
    assert code == 0
    assert m["R"] == pytest.approx(1.0) and m["P"] == pytest.approx(32 / 40)
    assert m["objects_F>=0.75"] == 1 and m["visible_objects"] == 1


def test_module_entry_point_runs(tmp_path):
    gt = np.zeros((3, H, W), np.uint8)
    gt[:, 2:6, 2:6] = 1
    args = ["--gt", _png_tree(tmp_path / "gt", {"a": gt}), "--pred", _png_tree(tmp_path / "p", {"a": gt})]
    proc = subprocess.run([sys.executable, "-m", "vidseg.evaluation", "fbms", *args], capture_output=True, text=True,
                          check=True)
    assert json.loads(proc.stdout)["F"] == pytest.approx(1.0)
