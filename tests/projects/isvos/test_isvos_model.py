"""Spec §8 items 13, 18 and the model contract: IS set loss matching, config round trip, ablation parameter sets,
training step, whole-video inference through the engine; the network never imports the engine."""
import ast
from pathlib import Path

import pytest
import torch
from detectron2.utils.events import EventStorage

from isvos_testutils import as_video, square_clip, tiny_cfg, tiny_model
from projects.isvos import ISVOS


def test_config_defaults_and_ablation_parameter_sets():
    cfg = tiny_cfg()
    for key in ("KEY_DIM", "VALUE_DIM", "QUERY_ENHANCE", "MPF", "MEMORY", "IS_BRANCH", "LOSS", "QE"):
        assert key in cfg.MODEL.ISVOS
    assert cfg.MODEL.ISVOS.MEMORY.TOP_K == 20 and cfg.TEST.VOS.MAX_MEMORY == 4
    full = {n for n, _ in tiny_model().named_parameters()}
    no_qe = {n for n, _ in tiny_model("MODEL.ISVOS.QUERY_ENHANCE", "False").named_parameters()}
    no_mpf = {n for n, _ in tiny_model("MODEL.ISVOS.MPF.ENABLED", "False").named_parameters()}
    qe_only = {n for n in full - no_qe}
    assert qe_only and all(n.startswith("key_encoder.") for n in qe_only)
    assert {n for n in no_qe - full} == set()
    # w/o MPF: no P-path convs; a block whose width no longer changes loses its skip conv (identity skip)
    dropped = full - no_mpf
    assert any(".pixel_convs." in n for n in dropped) and not no_mpf - full
    assert all(".pixel_convs." in n or ".downsample." in n for n in dropped)
    assert isinstance(tiny_model(), ISVOS)


def test_is_criterion_matches_overlapping_queries_and_loss_decreases():
    torch.manual_seed(0)
    model = tiny_model()
    clip = square_clip(t=1, k=2)
    crit = model.criterion
    images = model.prepare(clip["image"][0])
    inst = clip["instances"][0]
    target = [{"labels": inst.gt_classes, "masks": inst.gt_masks.tensor.float()[:, None]}]
    # queries 3 and 5 predict the two squares, the others predict nothing
    logits = torch.zeros(1, 8, 2)
    masks = torch.full((1, 8, 1, 64, 64), -8.0)
    masks[0, 3, 0][inst.gt_masks.tensor[0]] = 8.0
    masks[0, 5, 0][inst.gt_masks.tensor[1]] = 8.0
    src, tgt = crit.matcher({"pred_logits": logits, "pred_masks": masks}, target)[0]
    assert dict(zip(src.tolist(), tgt.tolist())) == {3: 0, 5: 1}
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    first = last = None
    for _ in range(20):
        out = model.encode_frame(images, heads=True)["is_out"]
        pred = {"pred_logits": out["pred_logits"], "pred_masks": out["pred_masks"][:, :, None]}
        raw = crit(pred, target)
        loss = sum(raw[k] * crit.weight_dict[k] for k in ("loss_ce", "loss_mask", "loss_dice"))
        assert torch.isfinite(loss)
        first = float(loss) if first is None else first
        last = float(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert last < first


def test_training_step_losses_and_gradients():
    model = tiny_model().train()
    clips = [square_clip(t=4, seed=s) for s in range(2)]
    with EventStorage(0):
        losses = model(clips)
    assert {"loss_vos_ce", "loss_vos_dice", "is_loss_ce", "is_loss_mask", "is_loss_dice"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for name in ("value_encoder.block1.conv1.weight", "key_encoder.global_conv.weight",
                 "mask_decoder.pixel_convs.0.weight", "predictor.query_feat.weight", "backbone.stem.conv1.weight"):
        assert dict(model.named_parameters())[name].grad.abs().sum() > 0, name


def test_joint_is_off_drops_is_losses():
    model = tiny_model("MODEL.ISVOS.IS_BRANCH.JOINT_TRAIN", "False").train()
    with EventStorage(0):
        losses = model([square_clip(t=3)])
    assert set(losses) == {"loss_vos_ce", "loss_vos_dice"}


@pytest.mark.parametrize("opts", [(), ("TEST.VOS.FLIP", "True")])
def test_video_inference_contract(opts):
    model = tiny_model(*opts).eval()
    clip = square_clip(t=6, k=2, h=64, w=96)
    vi = model([as_video(clip)])[0]["video_instances"]
    assert vi.track_ids == [1, 2] and vi.num_frames == 6 and vi.image_size == (64, 96)
    # the first frame is the given masks exactly
    for j in range(2):
        assert (vi.dense(j)[0].astype(bool) == clip["instances"][0].gt_masks.tensor[j].numpy()).all()


def test_network_module_never_imports_the_engine():
    root = Path(__file__).resolve().parents[3] / "projects" / "isvos"
    for name in ("network.py", "memory.py", "decoder.py", "key_encoder.py", "value_encoder.py",
                 "instance_branch.py", "losses.py"):
        tree = ast.parse((root / name).read_text())
        mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not any(m.startswith("vidseg.vos") for m in mods), (name, mods)
