"""IFR through ``train_net.py`` on the tiny synthetic VIS set, and the IFR config tree (``docs/architecture.md``, §9)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import default_argument_parser

import train_net
from projects.ifr.config import class_loss_of
from vidseg.config import get_cfg, load_config

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "configs" / "tests" / "ifr.yaml")


def _flatten(node, prefix=""):
    out = {}
    for k, v in node.items():
        out.update(_flatten(v, f"{prefix}{k}.") if hasattr(v, "items") else {f"{prefix}{k}": v})
    return out


def test_train_then_eval_only_writes_results_json(tmp_path):
    """2 iterations, then ``--eval-only``: YouTube-VIS results.json with dataset category ids and one RLE per
    frame; AP reported beside the consistency metrics (§9 item 15 and issue item 7)."""
    out = tmp_path / "run"
    opts = ["OUTPUT_DIR", str(out)]
    train_net.main(default_argument_parser().parse_args(["--config-file", TINY, *opts]))
    assert (out / "model_final.pth").is_file()
    args = default_argument_parser().parse_args(
        ["--config-file", TINY, "--eval-only", *opts, "MODEL.WEIGHTS", str(out / "model_final.pth")]
    )
    results = train_net.main(args)
    metrics = results.get("ytvis", results.get("segm"))
    assert {"AP", "AP50", "AR10", "IDF1", "MOTA", "IDs"} <= set(metrics)
    (res_file,) = list((out / "inference").rglob("results.json"))
    entries = json.loads(res_file.read_text())
    DatasetCatalog.get("synth_vis_val")  # generated on first use; the metadata then holds its json path
    gt = json.loads(Path(MetadataCatalog.get("synth_vis_val").json_file).read_text())
    lengths = {v["id"]: v["length"] for v in gt["videos"]}
    assert len(entries) == 10 * len(lengths)  # top-10 per video
    assert {e["category_id"] for e in entries} <= {c["id"] for c in gt["categories"]}
    for e in entries:
        assert len(e["segmentations"]) == lengths[e["video_id"]] and 0 <= e["score"] <= 1


def test_ifr_config_tree():
    ifr = sorted((ROOT / "configs" / "ifr").rglob("*.yaml"))
    names = {str(p.relative_to(ROOT / "configs" / "ifr")) for p in ifr}
    assert {"base.yaml", "r50.yaml", "swin_l.yaml", "swin_l_200q.yaml", "r50_ytvis21.yaml", "swin_l_ytvis21.yaml",
            "r50_ovis.yaml", "ablations/cross_frame_weight_0.yaml", "ablations/recurrence_off.yaml",
            "ablations/class_loss_ce.yaml", "m2f_vis_r50.yaml", "m2f_vis_swin_l_200q.yaml"} <= names
    r50 = _flatten(load_config(str(ROOT / "configs" / "ifr" / "r50.yaml")))
    for path in (ROOT / "configs" / "ifr" / "ablations").glob("*.yaml"):
        diff = {k for k, v in _flatten(load_config(str(path))).items() if r50[k] != v}
        assert 1 <= len(diff) <= 5, f"{path.name}: an ablation overrides 1-5 keys of r50.yaml, got {sorted(diff)}"
    swin = load_config(str(ROOT / "configs" / "ifr" / "swin_l.yaml"))
    assert swin.MODEL.META_ARCHITECTURE == "IFR" and swin.MODEL.SWIN.VARIANT == "large_384"
    assert swin.MODEL.IFR.NUM_QUERIES == 100 and swin.INPUT.MIN_SIZE_TEST == 480
    assert (swin.SOLVER.MAX_ITER, swin.SOLVER.STEPS, swin.SOLVER.IMS_PER_BATCH) == (6000, (4000,), 16)
    assert load_config(str(ROOT / "configs" / "ifr" / "swin_l_200q.yaml")).MODEL.IFR.NUM_QUERIES == 200
    recurrence_off = load_config(str(ROOT / "configs" / "ifr" / "ablations" / "recurrence_off.yaml"))
    assert recurrence_off.MODEL.IFR.ENABLED and not recurrence_off.MODEL.IFR.RECURRENCE
    assert class_loss_of(recurrence_off) == "focal" and recurrence_off.MODEL.IFR.CROSS_FRAME_WEIGHT == 0.3
    m2f_r50 = _flatten(load_config(str(ROOT / "configs" / "ifr" / "m2f_vis_r50.yaml")))
    assert {k for k, v in m2f_r50.items() if r50[k] != v} == {"MODEL.IFR.ENABLED", "MODEL.IFR.CLASS_LOSS"}
    assert (m2f_r50["MODEL.IFR.ENABLED"], m2f_r50["MODEL.IFR.CLASS_LOSS"]) == (False, "ce")
    m2f_swin = load_config(str(ROOT / "configs" / "ifr" / "m2f_vis_swin_l_200q.yaml"))
    assert (m2f_swin.MODEL.IFR.ENABLED, class_loss_of(m2f_swin), m2f_swin.MODEL.IFR.NUM_QUERIES) == (False, "ce", 200)
    assert m2f_swin.MODEL.SWIN.VARIANT == "large_384" and m2f_swin.INPUT.MIN_SIZE_TEST == 480
    tta = load_config(str(ROOT / "configs" / "ifr" / "swin_l_tta.yaml"))
    assert tta.MODEL.IFR.TTA.ENABLED and tuple(tta.MODEL.IFR.TTA.MIN_SIZES) == (360, 480, 600, 720)
    assert tta.INPUT.MIN_SIZE_TEST == max(tta.MODEL.IFR.TTA.MIN_SIZES)


def test_paper_defaults():
    ifr = get_cfg().MODEL.IFR
    assert (ifr.CLASS_WEIGHT, ifr.MASK_WEIGHT, ifr.DICE_WEIGHT, ifr.NO_OBJECT_WEIGHT) == (2.0, 5.0, 5.0, 0.1)
    assert (ifr.TRAIN_NUM_POINTS, ifr.OVERSAMPLE_RATIO, ifr.IMPORTANCE_SAMPLE_RATIO) == (12544, 3.0, 0.75)
    assert (ifr.CROSS_FRAME_WEIGHT, ifr.DEC_LAYERS, ifr.NUM_QUERIES, ifr.TEST_TOPK) == (0.3, 10, 100, 10)
    assert (ifr.HIDDEN_DIM, ifr.NHEADS, ifr.DIM_FEEDFORWARD, ifr.FOCAL_PRIOR_PROB) == (256, 8, 2048, 0.01)


def test_enabled_false_alone_is_the_mask2former_vis_baseline():
    """CLASS_LOSS "auto": focal with IFR, CE (K+1 logits) with the Mask2Former-VIS decoder; explicit values win."""
    cfg = get_cfg()
    assert class_loss_of(cfg) == "focal"
    cfg.MODEL.IFR.ENABLED = False
    assert class_loss_of(cfg) == "ce"
    cfg.MODEL.IFR.CLASS_LOSS = "focal"
    assert class_loss_of(cfg) == "focal"
    cfg.MODEL.IFR.CLASS_LOSS = "softmax"
    with pytest.raises(ValueError, match="MODEL.IFR.CLASS_LOSS"):
        class_loss_of(cfg)


@pytest.mark.slow
def test_swin_l_eval_only_on_synthetic_val_with_random_init(tmp_path):
    """The headline config runs ``--eval-only`` on CPU (random init, synthetic val, smaller test size)."""
    args = default_argument_parser().parse_args([
        "--config-file", str(ROOT / "configs" / "ifr" / "swin_l.yaml"), "--eval-only",
        "OUTPUT_DIR", str(tmp_path), "MODEL.DEVICE", "cpu", "MODEL.NUM_CLASSES", "3",
        "DATASETS.TRAIN", '("synth_vis_train",)', "DATASETS.TEST", '("synth_vis_val",)',
        "INPUT.MIN_SIZE_TEST", "128", "SOLVER.AMP.ENABLED", "False", "DATALOADER.NUM_WORKERS", "0",
    ])
    results = train_net.main(args)
    assert "AP" in results.get("ytvis", results.get("segm"))
    assert list(tmp_path.rglob("results.json"))
