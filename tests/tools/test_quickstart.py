"""``make quickstart METHOD=...``: every method's quick-start config exists, loads, is seeded and evaluates on
the dataset whose details file the tool reads."""
import importlib.util
from pathlib import Path

import pytest

from vidseg.config import load_config

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("vidseg_quickstart", ROOT / "tools" / "quickstart.py")
quickstart = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quickstart)
EVALUATOR_FILES = {"YTVISEvaluator": "ytvis_details.json", "VOSEvaluator": "vos_details.json",
                   "FBMSEvaluator": "fbms_details.json"}


@pytest.mark.parametrize("method", sorted(quickstart.METHODS))
def test_quickstart_config_is_seeded_and_matches_its_evaluator(method):
    from detectron2.data import MetadataCatalog

    import vidseg  # noqa: F401  (registers the datasets)

    config, _, dataset, details, metrics = quickstart.METHODS[method]
    cfg = load_config(str(ROOT / config), [])
    assert cfg.SEED >= 0, "the same seed must give the same numbers"
    assert cfg.DATASETS.TEST == (dataset,) and cfg.MODEL.DEVICE == "cpu"
    assert metrics
    if method == "instmove":  # a motion prior, evaluated inside the baseline's tracker by tools/quickstart_instmove.py
        assert cfg.MODEL.META_ARCHITECTURE == "InstMovePredictor" and cfg.MODEL.TRACKER.NAME == "MaskIoUTracker"
        assert cfg.MODEL.INSTMOVE.IMAGE_ENCODER == "none"  # the prior interface is mask-only
        assert details == "instmove_details.json"
        return
    assert cfg.TEST.VIS_VIDEOS >= 1
    assert EVALUATOR_FILES[MetadataCatalog.get(dataset).evaluator_type] == details


def test_instmove_host_tracker_is_the_baselines():
    """The instmove quick start scores the prior in the baseline's tracker with the baseline's thresholds."""
    host = load_config(str(ROOT / quickstart.METHODS["baseline"][0]), []).MODEL.TRACKER
    assert load_config(str(ROOT / quickstart.METHODS["instmove"][0]), []).MODEL.TRACKER == host


def test_counts_and_fractions_are_formatted_apart():
    assert quickstart.fmt(12) == "   12" and quickstart.fmt(0.4567) == " 45.7" and quickstart.fmt(None) == "  n/a"


def test_default_method_is_ifr():
    assert "METHOD ?= ifr" in (ROOT / "Makefile").read_text()


# --- end to end on the tiny synthetic sets (a few iterations; each step is its own train_net process) ---------------
TINY_VIS = ["DATASETS.TRAIN", "('synth_vis_train',)", "DATASETS.TEST", "('synth_vis_val',)", "INPUT.MIN_SIZE_TRAIN",
            "(64,)", "INPUT.MAX_SIZE_TRAIN", "96", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96"]


def run_quickstart(*args: str) -> list[str]:
    """Terminal lines of stdout + stderr (tqdm redraws a bar in place with carriage returns: not new lines)."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "quickstart.py"), *args], cwd=ROOT,
                          capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})  # bytes: keep the \r
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0, out[-3000:]
    return [line.split("\r")[-1] for line in out.rstrip("\n").split("\n")]


def losses(run_dir: Path) -> list[float]:
    import json

    rows = [json.loads(line) for line in (run_dir / "trained" / "metrics.json").read_text().splitlines()]
    return [r["total_loss"] for r in rows if "total_loss" in r]


def summary(run_dir: Path) -> dict:
    import json

    return json.loads((run_dir / "quickstart.json").read_text())


def check_terminal(lines: list[str], first: str, rows: list[str]) -> None:
    assert len(lines) <= 40, "\n".join(lines)
    assert lines[0].startswith(f"vidseg quick start: {first}")
    text = "\n".join(lines)
    assert "train:" in text and "evaluate:" in text  # one bar each
    for row in rows:
        assert any(line.startswith(row) for line in lines), row
    overlay = [line for line in lines if line.startswith("overlay")]
    assert len(overlay) == 1 and overlay[0].endswith(".mp4")
    assert (ROOT / overlay[0].split(": ", 1)[1]).is_file()  # relative to the repository or absolute
    assert "Starting training" not in text and "d2." not in text  # train_net's log went to the file


@pytest.mark.slow
@pytest.mark.timeout(3600)  # three runs of three train_net processes each: minutes on a loaded machine
def test_ifr_short_run_is_short_seeded_and_resumable(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--method", "ifr", "--iters", "2", "--seed", "3"]
    check_terminal(run_quickstart(*args, "--out", str(a), *TINY_VIS), "IFR", ["untrained", "trained"])
    assert "Starting training from iteration 0" in (a / "log.txt").read_text()  # the full log is in the folder
    # same seed -> the same losses at every logged iteration and the same metrics
    run_quickstart(*args, "--out", str(b), *TINY_VIS)
    assert losses(a) and losses(a) == losses(b)
    assert summary(a)["metrics"] == summary(b)["metrics"]
    # resumable: a longer schedule continues from the last checkpoint; the untrained evaluation is reused
    run_quickstart("--method", "ifr", "--iters", "4", "--seed", "3", "--out", str(a), *TINY_VIS)
    log = (a / "log.txt").read_text()
    assert "Starting training from iteration 2" in log
    assert log.count("--eval-only") == 3  # untrained + trained, then only the retrained model
    assert summary(a)["iterations"] == 4


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_instmove_short_run_shows_the_prior_in_the_tracker_and_is_seeded(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--method", "instmove", "--iters", "4", "--seed", "3"]
    tiny = ["DATASETS.TEST", "('synth_vis_val',)"]
    lines = run_quickstart(*args, "--out", str(a), *tiny)
    check_terminal(lines, "InstMove", ["untrained", "trained", "tracker without prior", "copy-last prior",
                                       "linear prior"])
    run_quickstart(*args, "--out", str(b), *tiny)
    assert losses(a) == losses(b) and summary(a)["metrics"] == summary(b)["metrics"]
    res = summary(a)["metrics"]
    assert 0.0 <= res["trained"]["mIoU"] <= 1.0 and res["tracker without prior"]["mIoU"] is None
