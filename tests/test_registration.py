"""``import vidseg`` registers everything vidseg provides (issue 9), checked in a fresh interpreter."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
import vidseg
from detectron2.data import DatasetCatalog
from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY
from vidseg.registry import (COST_TERM_REGISTRY, EVALUATOR_REGISTRY, MAPPER_REGISTRY, MOTION_PRIOR_REGISTRY,
                             PIXEL_DECODER_REGISTRY, TRACKER_REGISTRY)
before = len(DatasetCatalog.list())
vidseg.register_all()  # idempotent
names = lambda r: sorted(k for k, _ in r)
json.dump({
    "projects_imported": sorted(m for m in sys.modules if m == "projects" or m.startswith("projects.")),
    "datasets": DatasetCatalog.list(), "same_after_second_call": before == len(DatasetCatalog.list()),
    "meta_arch": names(META_ARCH_REGISTRY), "backbone": names(BACKBONE_REGISTRY),
    "pixel_decoder": names(PIXEL_DECODER_REGISTRY), "mapper": names(MAPPER_REGISTRY),
    "evaluator": names(EVALUATOR_REGISTRY), "tracker": names(TRACKER_REGISTRY),
    "motion_prior": names(MOTION_PRIOR_REGISTRY), "cost_term": names(COST_TERM_REGISTRY),
}, sys.stdout)
"""


def test_import_vidseg_registers_everything_in_a_fresh_interpreter():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    assert found["projects_imported"] == []  # projects come in through entry points, not through import vidseg
    assert {"ytvis_2019_val", "ytvis_2019_train", "davis_2017_val", "synth_vis_train_large"} <= set(found["datasets"])
    assert found["same_after_second_call"]
    assert "PerFrameMaskRCNN" in found["meta_arch"]
    assert "D2SwinTransformer" in found["backbone"]
    assert {"MSDeformAttnPixelDecoder", "BasePixelDecoder"} <= set(found["pixel_decoder"])
    assert {"YTVISEvaluator", "VOSEvaluator", "FBMSEvaluator", "MOTSEvaluator"} <= set(found["evaluator"])
    assert {"MaskIoUTracker", "ClipTrackAccumulator"} <= set(found["tracker"])
    assert {"none", "copy_last", "linear"} <= set(found["motion_prior"])
    assert {"mask_iou", "motion", "embedding", "soft_mask_iou"} <= set(found["cost_term"])
    assert len(found["mapper"]) >= 4
