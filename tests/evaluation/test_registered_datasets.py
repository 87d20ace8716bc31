"""Every evaluator on the registered synthetic datasets (chosen through metadata ``evaluator_type``): ground
truth as prediction scores perfectly, a dropped object costs, and the shared input errors are clear."""
from __future__ import annotations

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

import vidseg.data  # noqa: F401  (registers the built-in datasets)
import vidseg.evaluation  # noqa: F401  (registers the evaluators)
from vidseg.evaluation.base import gt_tracks
from vidseg.registry import EVALUATOR_REGISTRY
from vidseg.structures.video_instances import VideoInstances

from eval_testutils import run_evaluator

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

MAIN_METRIC = {"vis": ("ytvis", "AP"), "vos": ("vos", "J&F-Mean"), "moseg": ("fbms", "F"), "mots": ("mots", "sMOTSA")}


def gt_as_predictions(records: list[dict], drop_first: bool = False) -> dict:
    out = {}
    for r in records:
        tracks = gt_tracks(r)[1 if drop_first else 0:]
        out[r["video_id"]] = VideoInstances(
            image_size=(r["height"], r["width"]), frame_idx=list(range(len(r["file_names"]))),
            track_ids=[o["id"] for o in tracks], scores=[0.9] * len(tracks),
            labels=[o["category_id"] for o in tracks], masks=[o["segmentations"] for o in tracks])
    return out


@pytest.mark.parametrize("task", sorted(MAIN_METRIC))
def test_ground_truth_scores_perfectly_and_missing_object_costs(task, tmp_path):
    name = f"synth_{task}_val"
    records = DatasetCatalog.get(name)
    cls = EVALUATOR_REGISTRY.get(MetadataCatalog.get(name).evaluator_type)
    key, metric = MAIN_METRIC[task]
    perfect = run_evaluator(cls, name, gt_as_predictions(records), str(tmp_path))[key]
    assert perfect[metric] == pytest.approx(1.0)
    worse = run_evaluator(cls, name, gt_as_predictions(records, drop_first=True))[key]
    assert worse[metric] < 1.0
    nothing = run_evaluator(cls, name, {})[key]
    assert nothing[metric] <= 0.0


@pytest.mark.parametrize("task", sorted(MAIN_METRIC))
def test_unknown_video_and_wrong_resolution_are_clear_errors(task):
    name = f"synth_{task}_val"
    records = DatasetCatalog.get(name)
    cls = EVALUATOR_REGISTRY.get(MetadataCatalog.get(name).evaluator_type)
    preds = gt_as_predictions(records[:1])
    vi = next(iter(preds.values()))
    with pytest.raises(ValueError, match="not in the dataset"):
        run_evaluator(cls, name, {"no-such-video": vi})
    h, w = vi.image_size
    small = VideoInstances(image_size=(h // 2, w // 2), frame_idx=vi.frame_idx, track_ids=[1], scores=[0.5],
                           labels=[0], masks=[[None] * len(vi.frame_idx)])
    with pytest.raises(ValueError, match="original resolution"):
        run_evaluator(cls, name, {records[0]["video_id"]: small})
