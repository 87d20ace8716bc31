"""Host plug-ins: the host configs load with the ``instmove`` prior; IFR's frame-by-frame mode links queries
through ``QueryMatchingTracker`` with a motion prior, and hosts never import ``projects.instmove``."""
import re
from pathlib import Path

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model

from vidseg.config import load_config
from vidseg.data.build import build_video_test_loader

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_host_configs_select_the_prior_by_name():
    for path in sorted((ROOT / "configs" / "instmove" / "hosts").glob("*.yaml")):
        cfg = load_config(str(path))
        assert cfg.MODEL.MOTION_PRIOR.NAME == "instmove" and cfg.MODEL.INSTMOVE.IMAGE_ENCODER == "none"


def test_no_host_imports_instmove():
    pattern = re.compile(r"^\s*(from|import)\s+projects\.instmove", re.M)
    hits = [str(f) for base in ("vidseg", "projects/ifr", "projects/moseg", "projects/isvos", "projects/instflow")
            for f in (ROOT / base).rglob("*.py") if pattern.search(f.read_text())]
    assert hits == []


def test_ifr_frame_mode_tracks_queries_with_a_prior():
    cfg = load_config(str(ROOT / "configs" / "tests" / "ifr_frame.yaml"))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    assert model.test_mode == "frame" and model.frame_tracker_args["motion_prior"].history >= 2
    video = next(iter(build_video_test_loader(cfg, "synth_vis_val")))[0]
    out = model([video])[0]["video_instances"]
    n = len(video["image"])
    assert len(out.track_ids) == cfg.MODEL.IFR.TEST_TOPK
    assert all(len(m) == n for m in out.masks) and out.image_size == (video["height"], video["width"])
    assert DatasetCatalog.get("synth_vis_val")
