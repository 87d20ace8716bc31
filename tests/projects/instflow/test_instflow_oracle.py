"""Oracle check of the whole inference path: ground-truth-derived network maps (one-hot semantic, GT heatmap, GT
intra/inter offsets) of the synthetic validation videos go through ``InstanceFlowVIS.inference`` (grouping,
instance flow, both trackers, ``VideoInstances``) and the YouTube-VIS evaluator. Perfect maps must score AP 100;
anything less is a post-processing defect, not a training one."""
import pytest
import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog, MetadataCatalog

import projects.instflow.streaming as streaming
from instflow_testutils import tiny_cfg, tiny_model
from projects.instflow.targets import pair_targets
from vidseg.data.build import build_video_test_loader
from vidseg.evaluation.ytvis import ytvis_metrics
from vidseg.structures.masks import decode_mask
from vidseg.tracking import MaskIoUTracker

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
VAL = "synth_vis_val"


def _gt_frame(record: dict, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """K×H×W masks (empty where the track is absent) and (K,) classes of frame t, tracks in record order."""
    ids = [tr["id"] for tr in record["gt_tracks"]]
    masks = torch.zeros(len(ids), record["height"], record["width"], dtype=torch.bool)
    for a in record["annotations"][t]:
        masks[ids.index(a["id"])] = torch.from_numpy(decode_mask(a["segmentation"]).astype(bool))
    return masks, torch.tensor([tr["category_id"] for tr in record["gt_tracks"]])


def test_gt_maps_through_the_inference_path_score_ap_100(monkeypatch):
    cfg = tiny_cfg("DATASETS.TEST", f'("{VAL}",)')
    model = tiny_model(cfg).eval()
    records = {r["video_id"]: r for r in DatasetCatalog.get(VAL)}
    current = {}

    def gt_maps(model_, frame, pos, refs, memory, settings, size, use_inter):
        record = records[current["video"]]
        masks, classes = _gt_frame(record, pos)
        t = pair_targets(masks, masks, classes)
        assert tuple(t["sem"].shape) == tuple(size)
        sem = F.one_hot(t["sem"], cfg.MODEL.NUM_CLASSES + 1).permute(2, 0, 1).float() * 10
        off_r = [pair_targets(masks, _gt_frame(record, r)[0], classes)["off_r"] for r in refs]
        return {"sem": sem.softmax(0), "center": t["center"], "off_t": t["off_t"],
                "off_r": torch.stack(off_r) if off_r else None}

    monkeypatch.setattr(streaming, "frame_maps", gt_maps)
    flow, iou = {}, {}
    for batch in build_video_test_loader(cfg, VAL):
        video = batch[0]
        current["video"] = video["video_id"]
        flow[video["video_id"]], iou[video["video_id"]] = model.inference(
            video, extra_trackers=[MaskIoUTracker(score_init=0.0, score_continue=-1.0)])
    names = MetadataCatalog.get(VAL).thing_classes
    m_flow, _ = ytvis_metrics(list(records.values()), flow, names)
    m_iou, _ = ytvis_metrics(list(records.values()), iou, names)
    assert m_flow["AP"] == pytest.approx(1.0) and m_flow["IDF1"] == pytest.approx(1.0) and m_flow["IDs"] == 0
    assert m_iou["AP50"] > 0.9  # same frames, IoU linking: only its own linking errors
