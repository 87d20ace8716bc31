import pytest
import torch
from torch import nn

from vidseg.config import get_cfg
from vidseg.solver import build_optimizer, build_param_groups


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.backbone.pos_embed = nn.Parameter(torch.zeros(4))
        self.head = nn.Linear(4, 2)
        self.query_feat = nn.Embedding(5, 4)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _by_name(groups):
    return {g["name"]: g for g in groups}


def test_param_groups_multipliers_and_decay():
    groups = _by_name(
        build_param_groups(
            Toy(),
            base_lr=1.0,
            weight_decay=0.05,
            weight_decay_norm=0.0,
            weight_decay_embed=0.0,
            lr_multipliers=(("backbone", 0.1), ("backbone.pos_embed", 2.0)),
        )
    )
    assert "frozen.weight" not in groups  # no trainable parameter is lost, no frozen one added
    assert set(groups) == {
        "backbone.0.weight", "backbone.0.bias", "backbone.1.weight", "backbone.1.bias",
        "backbone.pos_embed", "head.weight", "head.bias", "query_feat.weight",
    }
    assert groups["backbone.0.weight"]["lr"] == pytest.approx(0.1)
    assert groups["backbone.pos_embed"]["lr"] == pytest.approx(2.0)  # longest prefix wins
    assert groups["head.weight"]["lr"] == 1.0
    assert groups["backbone.0.weight"]["weight_decay"] == 0.05
    assert groups["backbone.1.weight"]["weight_decay"] == 0.0  # norm
    assert groups["query_feat.weight"]["weight_decay"] == 0.0  # embedding
    assert groups["backbone.pos_embed"]["weight_decay"] == 0.0


@pytest.mark.parametrize("name", ["ADAMW", "SGD"])
def test_full_model_clipping_clips_global_norm(name):
    torch.manual_seed(0)
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZER = name
    cfg.SOLVER.BASE_LR = 1.0
    cfg.SOLVER.MOMENTUM = 0.0
    cfg.SOLVER.WEIGHT_DECAY = 0.0
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 0.5
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    opt = build_optimizer(cfg, model)
    model(torch.randn(8, 3)).pow(2).sum().mul(100).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    total = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    assert total > 0.5
    before = [p.detach().clone() for p in model.parameters()]
    opt.step()
    clipped = [p.grad for p in model.parameters()]
    # every gradient scaled by the same factor, so the global norm is exactly the limit
    new_total = torch.sqrt(sum(g.pow(2).sum() for g in clipped))
    assert new_total == pytest.approx(0.5, rel=1e-5)
    for g0, g1 in zip(grads, clipped):
        torch.testing.assert_close(g1, g0 * (0.5 / total), rtol=1e-5, atol=1e-7)
    if name == "SGD":  # plain SGD step = lr * clipped gradient
        for p0, p1, g in zip(before, model.parameters(), clipped):
            torch.testing.assert_close(p1.detach(), p0 - g, rtol=1e-5, atol=1e-6)


def test_unknown_optimizer_is_a_clear_error():
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZER = "LION"
    with pytest.raises(ValueError, match="SOLVER.OPTIMIZER"):
        build_optimizer(cfg, nn.Linear(2, 2))


def test_fused_adamw_matches_the_unfused_update():
    """SOLVER.FUSED picks torch's fused AdamW kernel; five steps with weight decay and per-parameter groups land on the
    same parameters as the unfused optimizer (up to float rounding), and the hand-written AdamW step below."""
    def run(fused: bool):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))
        cfg = get_cfg()
        cfg.SOLVER.OPTIMIZER, cfg.SOLVER.FUSED = "ADAMW", fused
        cfg.SOLVER.BASE_LR, cfg.SOLVER.WEIGHT_DECAY = 0.01, 0.05
        opt = build_optimizer(cfg, model)
        assert bool(opt.defaults.get("fused")) == fused
        x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
        for _ in range(5):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
        return [p.detach().clone() for p in model.parameters()]

    for a, b in zip(run(True), run(False)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    # one AdamW step by hand (decoupled decay, bias correction) on a single weight
    torch.manual_seed(0)
    lin = nn.Linear(3, 1, bias=False)
    cfg = get_cfg()
    cfg.SOLVER.BASE_LR, cfg.SOLVER.WEIGHT_DECAY = 0.1, 0.5
    opt = build_optimizer(cfg, lin)
    w0 = lin.weight.detach().clone()
    lin(torch.ones(1, 3)).sum().backward()  # gradient = 1 everywhere
    opt.step()
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m_hat, v_hat = (1 - beta1) * 1.0 / (1 - beta1), (1 - beta2) * 1.0 / (1 - beta2)
    expected = w0 * (1 - 0.1 * 0.5) - 0.1 * m_hat / (v_hat**0.5 + eps)
    torch.testing.assert_close(lin.weight.detach(), expected, rtol=1e-6, atol=1e-7)
