"""TwoStreamMaskRCNN on the tiny configs: modes, training step + freezing, head inputs, static branch, inference."""
import math

import pytest
import torch
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from moseg_testutils import clip, tiny_cfg, tiny_model, video

from vidseg.checkpoint import CheckpointError
from vidseg.solver import build_optimizer
from vidseg.structures import VideoInstances

LOSSES = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"}


def test_stage_modes_build_the_expected_modules():
    app, mot, joint = tiny_model("appearance"), tiny_model("motion"), tiny_model("joint")
    assert app.motion_backbone is None and app.fusion is None and app.frozen == ()
    assert mot.motion_backbone is None and mot.streams == "motion" and mot.frozen == ()
    assert joint.motion_backbone is not None and joint.fusion is not None
    assert joint.static_branch is not None and not joint.use_static_branch  # carried in the checkpoint, not run
    assert set(joint.frozen) == {"backbone", "motion_backbone", "roi_heads.mask_head", "static_branch"}
    assert tiny_model("fbms").use_static_branch
    with pytest.raises(ValueError, match="STATIC_BRANCH.ENABLED needs"):
        tiny_model("appearance", "MODEL.MOSEG.STATIC_BRANCH.ENABLED", "True")
    with pytest.raises(ValueError, match="FUSION.CONV_DIM=16 must equal the FPN channels"):
        tiny_model("joint", "MODEL.MOSEG.FUSION.CONV_DIM", "16")
    with pytest.raises(ValueError, match="ROI_HEADS.NAME='StandardROIHeads'"):
        tiny_model("joint", "MODEL.ROI_HEADS.NAME", "StandardROIHeads")


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _changed(before, model, prefix):
    return [k for k, v in model.named_parameters() if k.startswith(prefix) and not torch.equal(v, before[k])]


def test_one_step_updates_only_the_trainable_parts():
    cfg = tiny_cfg("joint", "SOLVER.BASE_LR", "0.01")
    torch.manual_seed(0)
    from vidseg.engine import VideoTrainer

    model = VideoTrainer.build_model(cfg)
    model.train()
    opt = build_optimizer(cfg, model)
    before = _snapshot(model)
    with EventStorage(0):
        losses = model([clip(seed=0), clip(seed=1, classes=[0, 0])])
        assert set(losses) == LOSSES and all(math.isfinite(v.item()) for v in losses.values())
        assert not losses["loss_mask"].requires_grad, "frozen mask head on frozen features: logged only"
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    for name, p in model.named_parameters():
        if name.startswith(("backbone.", "motion_backbone.", "roi_heads.mask_head.")):
            assert not p.requires_grad and torch.equal(p, before[name]), name
    for prefix in ("fusion.", "proposal_generator.", "roi_heads.box_head.", "roi_heads.box_predictor."):
        assert _changed(before, model, prefix), f"{prefix} received no update"


def test_unfrozen_joint_trains_everything_and_single_streams_train():
    model = tiny_model("joint", "MODEL.MOSEG.FREEZE_APPEARANCE_BACKBONE", "False",
                       "MODEL.MOSEG.FREEZE_MOTION_BACKBONE", "False", "MODEL.MOSEG.FREEZE_MASK_HEAD", "False")
    assert model.frozen == ("static_branch",)  # inference-only, copied from stage A: never trained here
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("static_branch."))
    for stage in ("appearance", "motion"):
        m = tiny_model(stage)
        m.train()
        with EventStorage(0):
            losses = m([clip(seed=2)])
        assert set(losses) == LOSSES and losses["loss_mask"].requires_grad


def test_empty_ground_truth_and_foreign_class_ids_train():
    model = tiny_model("joint")
    model.train()
    with EventStorage(0):
        losses = model([clip(boxes=(), seed=3), clip(seed=4, classes=[5, 2])])  # ids collapse to the one class
    assert all(math.isfinite(v.item()) for v in losses.values())


def test_training_frame_without_flow_is_rejected():
    model = tiny_model("joint")
    model.train()
    with EventStorage(0), pytest.raises(ValueError, match="video 'clip0' has no flow"):
        model([clip(with_flow=False)])


def _fixed_boxes(h=64, w=96):
    inst = Instances((h, w))
    inst.pred_boxes = Boxes(torch.tensor([[10.0, 10.0, 30.0, 34.0], [40.0, 12.0, 90.0, 60.0]]))
    inst.pred_classes = torch.zeros(2, dtype=torch.long)
    return inst


def test_mask_head_sees_appearance_only_rpn_and_boxes_see_motion():
    model = tiny_model("joint").eval()
    data = clip(seed=5)
    noise = torch.rand(3, 64, 96) * 200
    outs = []
    with torch.no_grad():
        for flow in (data["flow_image"][0], noise):
            _, feats = model.extract(data["image"], [flow])
            masks = model.roi_heads._forward_mask(feats[model.mask_features], [_fixed_boxes()])[0].pred_masks
            rpn_logits, _ = model.proposal_generator.rpn_head(
                [feats[model.rpn_features][f] for f in model.proposal_generator.in_features])
            pooled = model.roi_heads.box_pooler([feats[model.box_features][f] for f in model.roi_heads.box_in_features],
                                                [_fixed_boxes().pred_boxes])
            scores, _ = model.roi_heads.box_predictor(model.roi_heads.box_head(pooled))
            outs.append((masks, torch.cat([x.flatten() for x in rpn_logits]), scores))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=0, atol=0)
    assert not torch.allclose(outs[0][1], outs[1][1]), "RPN objectness must depend on the flow"
    assert not torch.allclose(outs[0][2], outs[1][2]), "box scores must depend on the flow"


def _split(det):
    static = det.is_static
    return [r for r, s in zip(det.rles, static) if s], det.scores[static], det.scores[~static]


def test_static_branch_is_invariant_to_flow_and_last_frame_is_static_only():
    model = tiny_model("fbms", "MODEL.MOSEG.STATIC_BRANCH.SCORE_THRESH_TEST", "0.0").eval()
    v = video(t=3, seed=6)
    noisy = dict(v, flow_image=[torch.rand(3, 64, 96) * 200, torch.rand(3, 64, 96) * 200, None])
    a, b = model.detect_video(v), model.detect_video(noisy)
    assert len(a) == 3 and all(d.image_size == (64, 96) for d in a)
    for da, db in zip(a, b):
        ra, sa, _ = _split(da)
        rb, sb, _ = _split(db)
        assert ra == rb and sa.tolist() == sb.tolist()
    assert a[0].is_static.any() and (~a[0].is_static).any()
    assert a[2].is_static.all(), "no flow on the last frame: static detections only"


def test_repeat_previous_flow_fills_the_last_frame():
    model = tiny_model("joint", "MODEL.MOSEG.MISSING_FLOW", "repeat_previous").eval()
    v = video(t=3, seed=7)
    flows = model.resolve_missing_flow(v["flow_image"])
    assert flows[2] is v["flow_image"][1] and flows[0] is v["flow_image"][0]
    assert model.resolve_missing_flow([None, v["flow_image"][0], None]) == [v["flow_image"][0]] * 3
    same = dict(v, image=[v["image"][0], v["image"][1], v["image"][1]])
    d2 = model.detect_video(same)
    assert len(d2[2]) > 0 and not d2[2].is_static.any()
    assert d2[2].scores.tolist() == d2[1].scores.tolist(), "last frame reuses the previous frame's flow"


@pytest.mark.parametrize("stage", ["joint", "appearance", "motion"])
def test_inference_returns_video_instances_at_original_size(stage):
    model = tiny_model(stage, "MODEL.TRACKER.SCORE_INIT", "0.0", "MODEL.TRACKER.SCORE_CONTINUE", "0.0").eval()
    v = video(t=3, seed=8)
    v["height"], v["width"], v["frame_idx"] = 128, 192, [5, 6, 7]
    (out,) = model([v])
    vi = out["video_instances"]
    assert isinstance(vi, VideoInstances) and vi.image_size == (128, 192) and vi.frame_idx == [5, 6, 7]
    assert all(label == -1 for label in vi.labels)
    if stage != "appearance":
        assert all(track[2] is None for track in vi.masks), "no moving detection without flow"


def test_fgbg_output_and_raw_flow_input():
    model = tiny_model("joint", "MODEL.MOSEG.INFERENCE_OUTPUT", "fgbg", "MODEL.MOSEG.FGBG_SCORE_THRESH", "0.0").eval()
    v = video(t=2, seed=9)
    (out,) = model([v])
    assert len(out["video_instances"]) <= 1
    raw = {k: x for k, x in v.items() if k != "flow_image"}
    raw["flow"] = [torch.full((2, 64, 96), 2.0), None]
    encoded = model.clip_flows(raw)
    assert encoded[1] is None and encoded[0].shape == (3, 64, 96)
    torch.testing.assert_close(encoded[0][1], torch.full((64, 96), 6 * math.hypot(2, 2) / math.hypot(64, 96)))


def test_joint_model_assembled_from_stage_checkpoints(tmp_path):
    app, mot = tiny_model("appearance", seed=1), tiny_model("motion", seed=2)
    torch.save({"model": app.state_dict()}, tmp_path / "app.pth")
    torch.save({"model": mot.state_dict()}, tmp_path / "mot.pth")
    fresh = tiny_model("fbms", seed=3)
    joint = tiny_model("fbms", "MODEL.MOSEG.APPEARANCE_WEIGHTS", str(tmp_path / "app.pth"),
                       "MODEL.MOSEG.MOTION_WEIGHTS", str(tmp_path / "mot.pth"), seed=3)
    js, a, m = joint.state_dict(), app.state_dict(), mot.state_dict()
    for k, v in a.items():
        if k.startswith(("backbone.", "proposal_generator.", "roi_heads.")):
            assert torch.equal(js[k], v), k
    for k, v in m.items():
        if k.startswith("backbone."):
            assert torch.equal(js["motion_" + k], v), k
    for k, v in a.items():
        if k.startswith(("proposal_generator.", "roi_heads.box_head.", "roi_heads.box_predictor.")):
            assert torch.equal(js["static_branch." + k], v), k
    fusion = [k for k in js if k.startswith("fusion.")]
    assert fusion and all(torch.equal(js[k], fresh.state_dict()[k]) for k in fusion), "fusion keeps its fresh init"
    with pytest.raises(CheckpointError, match="missing.pth: stage checkpoint not found"):
        tiny_model("joint", "MODEL.MOSEG.APPEARANCE_WEIGHTS", str(tmp_path / "missing.pth"))
    # a complete two-stream checkpoint as MODEL.WEIGHTS: stage files are not read (even when missing)
    torch.save({"model": joint.state_dict()}, tmp_path / "joint.pth")
    again = tiny_model("fbms", "MODEL.WEIGHTS", str(tmp_path / "joint.pth"),
                       "MODEL.MOSEG.APPEARANCE_WEIGHTS", str(tmp_path / "missing.pth"), seed=4)
    assert again.preloaded_keys == []


def test_joint_model_says_when_the_static_branch_is_off(caplog):
    model = tiny_model("joint").eval()
    with caplog.at_level("WARNING"):
        model([video(t=2, seed=1)])
    assert any("static branch OFF" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING"):
        tiny_model("fbms").eval()([video(t=2, seed=1)])
    assert not any("static branch OFF" in r.getMessage() for r in caplog.records)
