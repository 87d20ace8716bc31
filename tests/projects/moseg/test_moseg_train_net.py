"""train_net.py end to end on the synthetic FBMS-format split: joint training, then --eval-only with the FBMS-style
tracking evaluation (static branch on) printing the paper's P/R/F."""
import math

from detectron2.engine import default_argument_parser
from moseg_testutils import CONFIGS

import train_net


def _args(config, *extra, opts=()):
    return default_argument_parser().parse_args(["--config-file", str(CONFIGS / "tests" / config), *extra, *opts])


def test_train_then_fbms_eval(tmp_path, capsys):
    out = tmp_path / "run"
    train_net.main(_args("moseg_joint.yaml", opts=["OUTPUT_DIR", str(out), "SOLVER.MAX_ITER", "2"]))
    assert (out / "model_final.pth").is_file()
    results = train_net.main(_args("moseg_fbms.yaml", "--eval-only", opts=[
        "OUTPUT_DIR", str(out), "MODEL.WEIGHTS", str(out / "model_final.pth"),
        # the static branch is not in the joint checkpoint and, without stage weights here, stays random
        "MODEL.WEIGHTS_MAX_UNLOADED", "0.2",
        "MODEL.TRACKER.SCORE_INIT", "0.0", "MODEL.TRACKER.SCORE_CONTINUE", "0.0"]))
    fbms = results["fbms"]
    for key in ("P", "R", "F", "P_official", "R_official", "F_official"):
        assert 0.0 <= fbms[key] <= 1.0 or math.isnan(fbms[key]), key
    assert fbms["F"] > 0.0, "with zero tracker thresholds the untrained model still covers some GT pixels"
    assert (out / "inference" / "synth_moseg_val" / "fbms_details.json").is_file()
    assert "fbms" in capsys.readouterr().out
