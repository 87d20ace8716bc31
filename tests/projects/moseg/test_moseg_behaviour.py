"""The miniature of paper 001's claim (benchmarks/moseg_static_fp.py, seeded, CPU, ~2-4 minutes): on synthetic
videos with same-looking static distractors, the joint model rejects static objects the appearance-only model
detects, and segments the movers better."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_joint_model_rejects_static_lookalikes(tmp_path):
    spec = importlib.util.spec_from_file_location("moseg_static_fp", ROOT / "benchmarks" / "moseg_static_fp.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.run(bench.parse_args(["--out", str(tmp_path), "--seed", "0"]))
    app, joint = results["appearance-only"], results["joint (two-stream)"]
    assert app["static_fp"] >= 0.8, "the appearance-only model cannot tell static look-alikes from movers"
    assert joint["static_fp"] <= 0.25 and app["static_fp"] - joint["static_fp"] >= 0.5
    assert joint["mover_recall"] >= 0.8
    assert joint["F"] > app["F"] + 0.2
