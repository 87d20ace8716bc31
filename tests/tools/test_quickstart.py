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
    assert cfg.DATASETS.TEST == (dataset,) and cfg.MODEL.DEVICE == "cpu" and cfg.TEST.VIS_VIDEOS >= 1
    assert EVALUATOR_FILES[MetadataCatalog.get(dataset).evaluator_type] == details
    assert metrics


def test_default_method_is_ifr():
    assert "METHOD ?= ifr" in (ROOT / "Makefile").read_text()
