"""moseg building blocks: fusion, tiny backbone, stage-weight assembly, fg/bg output, config keys."""
import numpy as np
import pytest
import torch
from moseg_testutils import tiny_cfg

from projects.moseg import ConcatConvFusion, TinyConvNet, assemble_stage_weights
from projects.moseg.outputs import fgbg_video_instances, frame_detections
from vidseg.config import get_cfg
from vidseg.tracking import FrameDetections

LEVELS = {"p2": (16, 24), "p3": (8, 12), "p4": (4, 6), "p5": (2, 3), "p6": (1, 2)}


def _feats(c, seed, levels=LEVELS):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(2, c, h, w, generator=g) for k, (h, w) in levels.items()}


def test_fusion_keeps_levels_and_shapes_and_is_non_negative():
    fusion = ConcatConvFusion(in_channels=8, out_channels=8)
    out = fusion(_feats(8, 0), _feats(8, 1))
    assert list(out) == list(LEVELS)
    for k, (h, w) in LEVELS.items():
        assert out[k].shape == (2, 8, h, w)
        assert bool((out[k] >= 0).all()), "ReLU follows the last conv"


def test_fusion_is_one_adaptor_shared_by_all_levels():
    fusion = ConcatConvFusion(in_channels=256, out_channels=256)
    n = sum(p.numel() for p in fusion.parameters())
    assert n == (512 * 256 * 9 + 256) + 2 * (256 * 256 * 9 + 256) == 2_360_064
    small = ConcatConvFusion(in_channels=4, out_channels=4)
    a, m = _feats(4, 0), _feats(4, 1)
    full = small(a, m)
    one = small({"p3": a["p3"]}, {"p3": m["p3"]})  # the same weights act on every level
    torch.testing.assert_close(one["p3"], full["p3"])
    x = torch.cat([a["p4"], m["p4"]], 1)
    torch.testing.assert_close(full["p4"], small.adaptor(x))


def test_fusion_order_is_appearance_then_motion_and_errors():
    fusion = ConcatConvFusion(in_channels=4, out_channels=4, num_convs=1, kernel_size=1)
    a, m = _feats(4, 0), _feats(4, 1)
    with torch.no_grad():
        fusion.adaptor[0].weight.zero_()
        fusion.adaptor[0].bias.zero_()
        fusion.adaptor[0].weight[:, :4, 0, 0] = torch.eye(4)  # pass the first 4 (appearance) channels through
    torch.testing.assert_close(fusion(a, m)["p2"], a["p2"].clamp(min=0))
    with pytest.raises(ValueError, match="levels differ"):
        fusion(a, {"p2": m["p2"]})
    with pytest.raises(ValueError, match="level 'p2' shapes differ"):
        fusion({"p2": a["p2"]}, {"p2": m["p3"]})
    with pytest.raises(ValueError, match="KERNEL_SIZE odd"):
        ConcatConvFusion(in_channels=4, out_channels=4, kernel_size=2)


def test_tiny_backbone_strides_and_channels():
    net = TinyConvNet(channels=(8, 16, 24, 32))
    out = net(torch.zeros(1, 3, 64, 96))
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == {
        "res2": (8, 16, 24), "res3": (16, 8, 12), "res4": (24, 4, 6), "res5": (32, 2, 3)}
    assert net.output_shape()["res4"].stride == 16


def test_stage_weight_assembly_routes_each_checkpoint():
    t = torch.tensor
    appearance = {"backbone.a": t([1.0]), "proposal_generator.r": t([2.0]), "roi_heads.box_head.b": t([3.0]),
                  "roi_heads.box_predictor.c": t([4.0]), "roi_heads.mask_head.m": t([5.0]), "fusion.x": t([9.0]),
                  "motion_backbone.z": t([8.0])}
    motion = {"backbone.a": t([6.0]), "roi_heads.box_head.b": t([7.0])}
    out = assemble_stage_weights(appearance=appearance, motion=motion, static=appearance)
    assert out["backbone.a"].item() == 1.0 and out["motion_backbone.a"].item() == 6.0
    assert out["roi_heads.mask_head.m"].item() == 5.0 and out["roi_heads.box_head.b"].item() == 3.0
    assert out["static_branch.proposal_generator.r"].item() == 2.0
    assert out["static_branch.roi_heads.box_head.b"].item() == 3.0
    assert out["static_branch.roi_heads.box_predictor.c"].item() == 4.0
    assert not any(k.startswith("fusion.") for k in out), "the adaptor is never loaded"
    assert "static_branch.roi_heads.mask_head.m" not in out
    # a two-stream motion checkpoint gives its motion stream; a motion-only target model uses "backbone."
    two = assemble_stage_weights(motion={"motion_backbone.q": t([1.5]), "backbone.q": t([0.0])})
    assert two == {"motion_backbone.q": t([1.5])}
    assert assemble_stage_weights(motion=motion, motion_prefix="backbone.") == {"backbone.a": t([6.0])}


def _det(masks, scores, static):
    return FrameDetections(masks=np.array(masks, bool), scores=scores, is_static=static)


def test_fgbg_output_is_union_of_confident_moving_detections():
    a = np.zeros((4, 5), bool)
    a[0, :2] = True
    b = np.zeros((4, 5), bool)
    b[3, 3:] = True
    frames = [
        _det([a, b, ~a], [0.9, 0.71, 0.99], [False, False, True]),  # static one never counts
        _det([a, b], [0.7, 0.2], [False, False]),  # 0.7 is not > 0.7
    ]
    vi = fgbg_video_instances(frames, score_thresh=0.7, frame_idx=[4, 5])
    assert vi.track_ids == [1] and vi.frame_idx == [4, 5]
    np.testing.assert_array_equal(vi.dense(0)[0], a | b)
    assert vi.masks[0][1] is None
    empty = fgbg_video_instances(frames[1:], score_thresh=0.7, frame_idx=[0])
    assert len(empty) == 0 and empty.image_size == (4, 5)


def test_frame_detections_marks_static_ones():
    from detectron2.structures import Instances

    def inst(n, score):
        i = Instances((4, 5))
        i.pred_masks = torch.ones(n, 4, 5, dtype=torch.bool)
        i.scores = torch.full((n,), score)
        return i

    det = frame_detections(inst(2, 0.9), inst(1, 0.8), (4, 5))
    assert det.is_static.tolist() == [False, False, True] and det.scores.tolist() == pytest.approx([0.9, 0.9, 0.8])
    assert len(frame_detections(None, None, (4, 5))) == 0


def test_config_keys_and_stage_files():
    cfg = get_cfg()
    assert cfg.MODEL.MOSEG.STREAMS == "two_stream" and cfg.MODEL.MOSEG.FUSION.NUM_CONVS == 3
    assert (cfg.MODEL.MOSEG.RPN_FEATURES, cfg.MODEL.MOSEG.BOX_FEATURES, cfg.MODEL.MOSEG.MASK_FEATURES) == (
        "fused", "fused", "appearance")
    app, mot, joint = tiny_cfg("appearance"), tiny_cfg("motion"), tiny_cfg("joint")
    assert (app.MODEL.MOSEG.STREAMS, mot.MODEL.MOSEG.STREAMS, joint.MODEL.MOSEG.STREAMS) == (
        "appearance", "motion", "two_stream")
    assert joint.MODEL.MOSEG.FREEZE_APPEARANCE_BACKBONE and joint.MODEL.MOSEG.FREEZE_MOTION_BACKBONE
    assert joint.MODEL.MOSEG.FREEZE_MASK_HEAD and not app.MODEL.MOSEG.FREEZE_APPEARANCE_BACKBONE
    assert joint.MODEL.NUM_CLASSES == 1


def test_coco_objectness_view_collapses_classes():
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from projects.moseg import register_coco_objectness

    src = "moseg_test_coco_source"
    if src not in DatasetCatalog.list():
        DatasetCatalog.register(src, lambda: [{"file_name": "a.jpg", "annotations": [{"category_id": 7},
                                                                                    {"category_id": 0}]}])
    register_coco_objectness("moseg_test_objectness", src)
    register_coco_objectness("moseg_test_objectness", src)  # idempotent
    (rec,) = DatasetCatalog.get("moseg_test_objectness")
    assert [a["category_id"] for a in rec["annotations"]] == [0, 0]
    assert MetadataCatalog.get("moseg_test_objectness").thing_classes == ["object"]
    assert MetadataCatalog.get("coco_2017_train_objectness").thing_classes == ["object"]
