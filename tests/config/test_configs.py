"""Every yaml under configs/ loads and resolves; unknown keys fail loudly; adders stay in their namespace."""
from pathlib import Path

import pytest
from detectron2.data import MetadataCatalog
from detectron2.modeling import META_ARCH_REGISTRY

import vidseg.data  # noqa: F401  (dataset registration)
import vidseg.modeling  # noqa: F401  (meta-architecture registration)
from vidseg.config import CONFIG_HOOKS, ConfigError, load_config
from vidseg.plugins import load_plugins

load_plugins()  # method packages append their adders to CONFIG_HOOKS on import

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml"))


def _flatten(node, prefix=""):
    out = {}
    for k, v in node.items():
        key = f"{prefix}{k}"
        if hasattr(v, "items"):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def test_there_are_configs():
    assert len(CONFIGS) >= 4


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(ROOT)) for p in CONFIGS])
def test_config_loads_and_resolves(path):
    cfg = load_config(str(path))
    assert META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE) is not None
    train = cfg.DATASETS.TRAIN
    classes = MetadataCatalog.get(train[0]).get("thing_classes") if train else None
    if classes is not None:
        assert cfg.MODEL.NUM_CLASSES == len(classes), f"{path}: MODEL.NUM_CLASSES != len(thing_classes)"


def test_unknown_key_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("MODEL:\n  NOT_A_KEY: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(bad))
    msg = str(e.value)
    assert "bad.yaml" in msg and "MODEL.NOT_A_KEY" in msg and "\n" not in msg


def test_unknown_key_in_base_chain(tmp_path):
    (tmp_path / "base.yaml").write_text("SOLVER:\n  BASE_LRR: 0.1\n")
    child = tmp_path / "child.yaml"
    child.write_text('_BASE_: "base.yaml"\nSOLVER:\n  MAX_ITER: 3\n')
    with pytest.raises(ConfigError, match="SOLVER.BASE_LRR"):
        load_config(str(child))


def test_bad_opts_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    ok = tmp_path / "ok.yaml"
    ok.write_text("SOLVER:\n  MAX_ITER: 3\n")
    with pytest.raises(ConfigError, match="MODEL.NOPE"):
        load_config(str(ok), ["MODEL.NOPE", "1"])
    assert load_config(str(ok), ["SOLVER.BASE_LR", "0.5"]).SOLVER.BASE_LR == 0.5


def test_every_installed_method_registered_an_adder():
    assert len(CONFIG_HOOKS) == len(load_plugins()) >= 1


@pytest.mark.parametrize("adder", CONFIG_HOOKS, ids=lambda a: a.__name__)
def test_adders_only_add_their_namespace(adder):
    from detectron2.config import get_cfg as d2_get_cfg

    from vidseg.config import add_vidseg_config

    base = d2_get_cfg()
    add_vidseg_config(base)
    before = _flatten(base)
    adder(base)
    after = _flatten(base)
    method = adder.__name__.removeprefix("add_").removesuffix("_config").upper()
    for key, value in before.items():
        assert after[key] == value, f"{adder.__name__} changed the default of {key}"
    for key in set(after) - set(before):
        assert key.startswith(f"MODEL.{method}."), f"{adder.__name__} added {key} outside MODEL.{method}"
