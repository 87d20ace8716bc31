"""method spec §9 test 9: configs load; ablations inherit r50.yaml and change at most 3 keys."""
import os

import pytest
import yaml
from detectron2.modeling import build_model

from instflow_testutils import ROOT, tiny_cfg
from vidseg.config import get_cfg

CONFIGS = os.path.join(ROOT, "configs", "instflow")
ABLATIONS = sorted(os.listdir(os.path.join(CONFIGS, "ablations")))


def _load(path):
    cfg = get_cfg()
    cfg.merge_from_file(path)
    return cfg


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


@pytest.mark.parametrize("name", ["base.yaml", "r50.yaml", "r50_coco_pretrain.yaml"])
def test_main_configs_load(name):
    cfg = _load(os.path.join(CONFIGS, name))
    assert cfg.MODEL.META_ARCHITECTURE == "InstanceFlowVIS" and cfg.MODEL.INSTFLOW.CENTER_LOSS_WEIGHT == 100.0
    assert list(cfg.MODEL.INSTFLOW.RES5_MULTI_GRID) == [1, 2, 4] and cfg.MODEL.RESNETS.RES5_DILATION == 2


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablation_is_a_small_override_of_r50(name):
    path = os.path.join(CONFIGS, "ablations", name)
    raw = yaml.safe_load(open(path))
    assert raw.pop("_BASE_") == "../r50.yaml"
    keys = _flatten(raw)
    assert 1 <= len(keys) <= 3
    base, cfg = _load(os.path.join(CONFIGS, "r50.yaml")), _load(path)
    before = _flatten(yaml.safe_load(base.dump()))
    changed = {k for k, v in _flatten(yaml.safe_load(cfg.dump())).items() if before[k] != v}
    assert changed == set(keys)


def test_tiny_model_builds_in_both_modes():
    model = build_model(tiny_cfg())
    model.eval()
    model.train()
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
