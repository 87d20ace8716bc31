"""InstanceFlowVIS on the tiny config: builds in train/eval mode, losses go down on a fixed batch, the OS16
multi-grid backbone, streaming inference with a bounded reference memory, both trackers on the same frames."""
import numpy as np
import pytest
import torch
from detectron2.utils.events import EventStorage

import projects.instflow.streaming as streaming
from instflow_testutils import pair_batch, tiny_cfg, tiny_model
from projects.instflow.tracker import InstanceFlowTracker
from vidseg.structures import VideoInstances
from vidseg.tracking import MaskIoUTracker

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_backbone_is_os16_with_multi_grid():
    model = tiny_model(tiny_cfg())
    shapes = model.backbone.output_shape()
    assert {k: v.stride for k, v in shapes.items()} == {"res2": 4, "res3": 8, "res5": 16}
    assert [b.conv2.dilation for b in model.backbone.res5] == [(2, 2), (4, 4), (8, 8)]
    feats = model.backbone(torch.zeros(1, 3, 64, 96))
    assert feats["res5"].shape[-2:] == (4, 6)


def test_training_losses_decrease_on_a_fixed_batch():
    cfg = tiny_cfg()
    model = tiny_model(cfg).train()
    batch = pair_batch(cfg, 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    totals = []
    with EventStorage():
        for _ in range(25):
            losses = model(batch)
            assert set(losses) == {"loss_sem", "loss_center", "loss_intra", "loss_inter", "loss_shape"}
            total = sum(losses.values())
            opt.zero_grad()
            total.backward()
            opt.step()
            totals.append(total.item())
    assert all(np.isfinite(totals)) and np.mean(totals[-5:]) < 0.6 * np.mean(totals[:5])


def test_stage1_has_no_inter_losses_and_ablation_keys_build():
    model = tiny_model(tiny_cfg("MODEL.INSTFLOW.INTER_ENABLED", "False")).train()
    with EventStorage():
        assert set(model(pair_batch(tiny_cfg(), 2))) == {"loss_sem", "loss_center", "loss_intra"}
    assert model.inter_decoder is None
    concat = tiny_model(tiny_cfg("MODEL.INSTFLOW.TCF.MODE", "concat_convs"))
    assert type(concat.tcf[0]).__name__ == "ConcatConvFusion"
    with pytest.raises(ValueError, match="MODEL.INSTFLOW.TCF.MODE"):
        tiny_model(tiny_cfg("MODEL.INSTFLOW.TCF.MODE", "bogus"))


def _video(num_frames=9):
    torch.manual_seed(1)
    return {"image": [torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8) for _ in range(num_frames)],
            "height": 128, "width": 192, "video_id": 0}


def test_streaming_inference_memory_is_bounded(monkeypatch):
    cfg = tiny_cfg("MODEL.INSTFLOW.INFERENCE.CENTER_THRESHOLD", "-1.0", "MODEL.INSTFLOW.INFERENCE.TEST_SCALES",
                   "[0.75, 1.0]")
    model = tiny_model(cfg).eval()
    with torch.no_grad():  # a biased semantic predictor so that the untrained model has foreground
        model.sem_head.predictor.bias[1] = 5.0
    sizes, real = [], streaming.frame_maps

    def spy(model_, frame, pos, refs, memory, *args):
        out = real(model_, frame, pos, refs, memory, *args)
        sizes.append((len(memory), len(refs), None if out["off_r"] is None else out["off_r"].shape[0]))
        assert out["sem"].shape[-2:] == (128, 192)
        return out

    monkeypatch.setattr(streaming, "frame_maps", spy)
    flow, iou = model.inference(_video(), extra_trackers=[MaskIoUTracker(score_init=-1, score_continue=-2)])
    assert isinstance(flow, VideoInstances) and flow.image_size == (128, 192) and flow.num_frames == 9
    assert len(flow) > 0 and len(iou) > 0
    assert max(s[0] for s in sizes) == 5  # first + 3 previous + the current frame
    assert sizes[0][1:] == (0, None) and sizes[1][1:] == (1, 1) and sizes[8][1:] == (4, 4)
    assert all(0.0 <= s <= 1.0 for s in flow.scores) and set(flow.labels) <= {0, 1, 2}


def test_tracker_choice_from_config():
    cfg = tiny_cfg("MODEL.INSTFLOW.INFERENCE.TRACKER", "MaskIoUTracker")
    assert isinstance(tiny_model(cfg).stream.make_tracker(), MaskIoUTracker)
    assert isinstance(tiny_model(tiny_cfg()).stream.make_tracker(), InstanceFlowTracker)
    with pytest.raises(ValueError, match="MODEL.INSTFLOW.INFERENCE.TRACKER"):
        tiny_model(tiny_cfg("MODEL.INSTFLOW.INFERENCE.TRACKER", "nope"))


def test_stage1_checkpoint_initialises_the_inter_decoder_from_the_intra_one():
    stage1 = tiny_model(tiny_cfg("MODEL.INSTFLOW.INTER_ENABLED", "False"), seed=1)
    model = tiny_model(tiny_cfg(), seed=2)
    assert not torch.equal(model.ins_decoder.aspp.project.weight, stage1.ins_decoder.aspp.project.weight)
    result = model.load_state_dict(stage1.state_dict(), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []  # inter copied, TCF stays at identity init
    for inter, intra in ((model.inter_decoder, stage1.ins_decoder), (model.inter_offset_head, stage1.offset_head)):
        for (k, a), b in zip(inter.state_dict().items(), intra.state_dict().values()):
            assert torch.equal(a, b), k
    trained = tiny_model(tiny_cfg(), seed=3)  # a stage-2 checkpoint keeps its own inter-frame decoder
    with torch.no_grad():
        trained.inter_decoder.aspp.project.weight.add_(1.0)
    model.load_state_dict(trained.state_dict())
    assert torch.equal(model.inter_decoder.aspp.project.weight, trained.inter_decoder.aspp.project.weight)
    assert not torch.equal(model.inter_decoder.aspp.project.weight, model.ins_decoder.aspp.project.weight)
