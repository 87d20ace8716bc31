"""train_net.py end to end on the synthetic FBMS-format split: joint training, then --eval-only with the FBMS-style
tracking evaluation (static branch on) printing the paper's P/R/F."""
import math
from pathlib import Path

import pytest
import torch

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
        "OUTPUT_DIR", str(out), "MODEL.WEIGHTS", str(out / "model_final.pth"),  # the static branch included
        "MODEL.TRACKER.SCORE_INIT", "0.0", "MODEL.TRACKER.SCORE_CONTINUE", "0.0"]))
    fbms = results["fbms"]
    for key in ("P", "R", "F", "P_official", "R_official", "F_official"):
        assert 0.0 <= fbms[key] <= 1.0 or math.isnan(fbms[key]), key
    assert fbms["F"] > 0.0, "with zero tracker thresholds the untrained model still covers some GT pixels"
    assert (out / "inference" / "synth_moseg_val" / "fbms_details.json").is_file()
    assert "fbms" in capsys.readouterr().out


# configs/tests/moseg_joint.yaml's tiny architecture, applied to configs/moseg/fbms.yaml (CPU-sized)
TINY = ["MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NAME", "build_moseg_tiny_fpn_backbone", "MODEL.FPN.OUT_CHANNELS", "32",
        "MODEL.MOSEG.FUSION.CONV_DIM", "32", "MODEL.ROI_BOX_HEAD.FC_DIM", "64", "MODEL.ROI_MASK_HEAD.NUM_CONV", "1",
        "MODEL.ROI_MASK_HEAD.CONV_DIM", "32", "MODEL.ANCHOR_GENERATOR.SIZES", "[[8], [16], [32], [64], [128]]",
        "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96", "INPUT.FLOW.SOURCE", "precomputed",
        "MODEL.RPN.PRE_NMS_TOPK_TEST", "100", "MODEL.RPN.POST_NMS_TOPK_TEST", "50", "TEST.DETECTIONS_PER_IMAGE", "20",
        "DATASETS.TEST", "('synth_moseg_val',)", "TEST.VIS_VIDEOS", "0", "DATALOADER.NUM_WORKERS", "0"]


def test_fbms_config_evaluates_one_joint_checkpoint_without_stage_files(tmp_path):
    """configs/moseg/fbms.yaml names stage-A/B files that do not exist here: --eval-only with one joint checkpoint
    must not need them (one checkpoint = one model, static branch included)."""
    from vidseg.config import load_config
    from vidseg.engine import VideoTrainer

    fbms = CONFIGS / "moseg" / "fbms.yaml"
    cfg = load_config(str(fbms), TINY + ["MODEL.WEIGHTS", "", "MODEL.MOSEG.APPEARANCE_WEIGHTS", "",
                                         "MODEL.MOSEG.MOTION_WEIGHTS", ""])
    model = VideoTrainer.build_model(cfg)
    torch.save({"model": model.state_dict()}, tmp_path / "joint.pth")
    stage_a = load_config(str(fbms)).MODEL.MOSEG.APPEARANCE_WEIGHTS
    assert stage_a and not Path(stage_a).exists()
    results = train_net.main(default_argument_parser().parse_args([
        "--config-file", str(fbms), "--eval-only",
        *TINY, "OUTPUT_DIR", str(tmp_path / "eval"), "MODEL.WEIGHTS", str(tmp_path / "joint.pth"),
        "MODEL.TRACKER.SCORE_INIT", "0.0", "MODEL.TRACKER.SCORE_CONTINUE", "0.0"]))
    assert set(results["fbms"]) >= {"P", "R", "F", "P_official"}


def test_missing_stage_file_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        train_net.main(_args("moseg_joint.yaml", "--eval-only", opts=[
            "OUTPUT_DIR", str(tmp_path), "MODEL.MOSEG.APPEARANCE_WEIGHTS", str(tmp_path / "stageA.pth")]))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "stageA.pth: stage checkpoint not found" in err[-1]
