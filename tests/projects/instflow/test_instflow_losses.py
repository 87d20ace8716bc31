"""method spec §9 test 2: losses (zero at the GT, shape loss invariances, background, empty batches)."""
import pytest
import torch

from projects.instflow.losses import LossWeights, instflow_losses, semantic_loss, shape_loss
from projects.instflow.targets import pair_targets


def _targets():
    h, w = 40, 48
    mt = torch.zeros(2, h, w, dtype=torch.bool)
    mt[0, 4:20, 5:25] = True
    mt[1, 25:35, 30:44] = True
    mr = torch.roll(mt, shifts=(2, 3), dims=(1, 2))
    t = pair_targets(mt, mr, torch.tensor([0, 2]))
    return {k: v[None] for k, v in t.items()}


def _perfect(t, num_classes=4):
    sem = torch.nn.functional.one_hot(t["sem"], num_classes).permute(0, 3, 1, 2).float() * 1e4
    return {"sem": sem, "center": t["center"][:, None].clone(), "off_t": t["off_t"].clone(), "off_r": t["off_r"].clone()}


def test_all_losses_zero_at_gt():
    t = _targets()
    losses = instflow_losses(_perfect(t), t, LossWeights())
    for k, v in losses.items():
        assert v.item() == pytest.approx(0.0, abs=1e-6), k


def test_shared_error_cancels_in_shape_loss():
    t = _targets()
    p = _perfect(t)
    delta = torch.randn_like(p["off_t"])
    p["off_t"] += delta
    p["off_r"] += delta
    losses = instflow_losses(p, t, LossWeights())
    assert losses["loss_shape"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["loss_intra"] > 0 and losses["loss_inter"] > 0


def test_constant_residual_error_gives_its_squared_norm():
    t = _targets()
    p = _perfect(t)
    e = torch.tensor([1.5, -2.0])
    p["off_r"] += e[None, :, None, None]
    assert shape_loss(p["off_t"], p["off_r"], t["off_t"], t["off_r"], t["off_r_w"]).item() == pytest.approx(6.25)


def test_background_changes_do_not_matter_by_default():
    t = _targets()
    p = _perfect(t)
    base = instflow_losses(p, t, LossWeights())
    bg = (t["sem"] == 0)[:, None]
    q = {k: v.clone() for k, v in p.items()}
    for k in ("center", "off_t", "off_r"):
        q[k] = torch.where(bg, q[k] + 5.0, q[k])
    changed = instflow_losses(q, t, LossWeights())
    for k in ("loss_center", "loss_intra", "loss_inter", "loss_shape"):
        assert changed[k].item() == pytest.approx(base[k].item(), abs=1e-6), k


def test_empty_batch_is_zero_with_gradient():
    h, w = 16, 16
    t = pair_targets(torch.zeros(0, h, w, dtype=torch.bool), torch.zeros(0, h, w, dtype=torch.bool),
                     torch.zeros(0, dtype=torch.long))
    t = {k: v[None] for k, v in t.items()}
    p = {"sem": torch.randn(1, 4, h, w, requires_grad=True), "center": torch.randn(1, 1, h, w, requires_grad=True),
         "off_t": torch.randn(1, 2, h, w, requires_grad=True), "off_r": torch.randn(1, 2, h, w, requires_grad=True)}
    losses = instflow_losses(p, t, LossWeights())
    for k in ("loss_center", "loss_intra", "loss_inter", "loss_shape"):
        assert torch.isfinite(losses[k]) and losses[k].item() == 0.0
    sum(losses.values()).backward()
    assert p["off_r"].grad is not None and p["center"].grad is not None


def test_hard_pixel_mining_keeps_the_largest_losses():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 1, 0] = torch.tensor([0.0, 1.0, 2.0, 3.0])
    target = torch.zeros(1, 1, 4, dtype=torch.long)
    pixel = torch.nn.functional.cross_entropy(logits, target, reduction="none").flatten()
    assert semantic_loss(logits, target, top_k=0.5).item() == pytest.approx(pixel.topk(2).values.mean().item())
    assert semantic_loss(logits, target).item() == pytest.approx(pixel.mean().item())
