"""VideoSetCriterion: CE / focal switch, normalisation, deep supervision, IFR cross-frame term (paper 003, §9 9–13)."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import vidseg.modeling.losses.criterion as criterion_module
from vidseg.modeling.losses import VideoSetCriterion, sample_uncertain_points, sigmoid_focal_loss
from vidseg.modeling.matching import VideoHungarianMatcher

SIZE = 8


def _grid_points(logits: torch.Tensor, **_) -> torch.Tensor:
    """Deterministic stand-in for the random PointRend sampler: every pixel centre of a SIZE×SIZE mask."""
    c = (torch.arange(SIZE, dtype=torch.float32) + 0.5) / SIZE
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], -1)[None].expand(logits.shape[0], -1, -1)


class FixedMatcher(torch.nn.Module):
    """Matches query j to target j (keeps the tests independent of the Hungarian step)."""

    def forward(self, outputs, targets):
        return [(torch.arange(len(t["labels"])), torch.arange(len(t["labels"]))) for t in targets]


def _criterion(class_loss="ce", cross_frame_weight=0.0, eos_coef=0.1, matcher=None, num_classes=3) -> VideoSetCriterion:
    return VideoSetCriterion(
        num_classes=num_classes, matcher=matcher or FixedMatcher(), weight_dict={}, eos_coef=eos_coef,
        class_loss=class_loss, num_points=SIZE * SIZE, cross_frame_weight=cross_frame_weight,
    )


def _batch(*, b=2, n=5, t=2, m=3, k=3, class_loss="ce", seed=0, cross=True):
    g = torch.Generator().manual_seed(seed)
    out = {
        "pred_logits": torch.randn(b, n, k + (class_loss == "ce"), generator=g),
        "pred_masks": torch.randn(b, n, t, SIZE, SIZE, generator=g) * 3,
    }
    if cross:
        out["pred_cross_masks"] = torch.randn(b, n, t, t, SIZE, SIZE, generator=g) * 3
        idx = torch.arange(t)
        out["pred_cross_masks"][:, :, idx, idx] = out["pred_masks"]  # diagonal = frame masks
    targets = [
        {"labels": torch.randint(0, k, (m,), generator=g),
         "masks": (torch.rand(m, t, SIZE, SIZE, generator=g) > 0.6).float()}
        for _ in range(b)
    ]
    return out, targets


@pytest.fixture
def grid_points(monkeypatch):
    monkeypatch.setattr(criterion_module, "sample_uncertain_points", _grid_points)


def test_mask_and_dice_losses_by_hand(grid_points):
    out, targets = _batch(b=1, m=3, cross=False)
    losses = _criterion()(out, targets)
    src, tgt = out["pred_masks"][0, :3], targets[0]["masks"]  # FixedMatcher: query j <-> target j
    bce = F.binary_cross_entropy_with_logits(src, tgt, reduction="none").flatten(2).mean(-1)  # (M, T)
    p = src.sigmoid().flatten(2)
    g = tgt.flatten(2)
    dice = 1 - (2 * (p * g).sum(-1) + 1) / (p.sum(-1) + g.sum(-1) + 1)
    torch.testing.assert_close(losses["loss_mask"], bce.sum() / 3)  # summed over frames, divided by N_m = 3
    torch.testing.assert_close(losses["loss_dice"], dice.sum() / 3)


def _hand_point_losses(logits, target):
    """Per-mask BCE and dice over every pixel (the grid sampler): (..., h, w) -> (...)."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(-2).mean(-1)
    p, g = logits.sigmoid().flatten(-2), target.flatten(-2)
    return bce, 1 - (2 * (p * g).sum(-1) + 1) / (p.sum(-1) + g.sum(-1) + 1)


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_cross_frame_term_by_hand(grid_points, lam):
    """§9 item 9 and Eq. 6–7 computed by hand: loss_mask = Σ_t1 [ℓ(m^{t1→t1}, g^{t1}) + λe Σ_{t2≠t1}
    ℓ(m^{t1→t2}, g^{t2})] / N_m (same for dice). With λe = 0 this is the Mask2Former-VIS loss, whatever the
    (random) off-diagonal cross masks hold."""
    t, m = 3, 2
    out, targets = _batch(b=2, t=t, m=m)
    losses = _criterion(cross_frame_weight=lam)(out, targets)
    frame_bce = frame_dice = xf_bce = xf_dice = 0.0
    for b in range(2):
        tgt = targets[b]["masks"]  # FixedMatcher: query j <-> target j
        for j in range(m):
            for t1 in range(t):
                for t2 in range(t):
                    bce, dice = _hand_point_losses(out["pred_cross_masks"][b, j, t1, t2], tgt[j, t2])
                    if t1 == t2:
                        frame_bce, frame_dice = frame_bce + bce, frame_dice + dice
                    else:
                        xf_bce, xf_dice = xf_bce + bce, xf_dice + dice
    n_m = 2 * m
    torch.testing.assert_close(losses["loss_mask"], (frame_bce + lam * xf_bce) / n_m)
    torch.testing.assert_close(losses["loss_dice"], (frame_dice + lam * xf_dice) / n_m)
    torch.testing.assert_close(losses["loss_mask_xf"], lam * xf_bce / n_m)
    assert xf_bce > 0.5 * frame_bce  # the off-diagonal masks are far from their targets: λe is visible


@pytest.mark.parametrize("t", [2, 3])
def test_identical_frames_scale_by_one_plus_lambda_t_minus_one(grid_points, t):
    """§9 item 10: frame-independent kernels and identical targets -> (1 + λe (T−1)) × the per-frame term."""
    out, targets = _batch(b=1, t=t, m=2)
    out["pred_masks"][:] = out["pred_masks"][:, :, :1]
    out["pred_cross_masks"][:] = out["pred_masks"][:, :, :1, None]
    targets[0]["masks"][:] = targets[0]["masks"][:, :1]
    lam = 0.3
    plain = _criterion(cross_frame_weight=0.0)(out, targets)
    ifr = _criterion(cross_frame_weight=lam)(out, targets)
    for key in ("loss_mask", "loss_dice"):
        torch.testing.assert_close(ifr[key], (1 + lam * (t - 1)) * plain[key])


def test_cross_frame_term_compares_kernel_t1_on_frame_t2_with_target_t2(grid_points):
    out, targets = _batch(b=1, t=2, m=1)
    crit = _criterion(cross_frame_weight=1.0)
    base = crit(out, targets)["loss_mask_xf"]
    out["pred_cross_masks"][0, 0, 0, 1] = 30 * (2 * targets[0]["masks"][0, 1] - 1)  # kernel 0 on frame 1: perfect
    out["pred_cross_masks"][0, 0, 1, 0] = 30 * (2 * targets[0]["masks"][0, 0] - 1)
    assert crit(out, targets)["loss_mask_xf"] < 1e-6 < base


def test_focal_and_ce_switch():
    """§9 item 12: both run; K vs K+1 logits; the no-object weight only affects CE."""
    for class_loss, k in (("ce", 4), ("focal", 3)):
        out, targets = _batch(class_loss=class_loss)
        assert out["pred_logits"].shape[-1] == k
        a = _criterion(class_loss, eos_coef=0.1)(out, targets)["loss_ce"]
        b = _criterion(class_loss, eos_coef=0.5)(out, targets)["loss_ce"]
        assert torch.isfinite(a) and (torch.equal(a, b) if class_loss == "focal" else not torch.allclose(a, b))
        with pytest.raises(ValueError, match="logits"):
            _criterion("focal" if class_loss == "ce" else "ce")(out, targets)


def test_class_losses_by_hand():
    out, targets = _batch(b=1, n=4, m=2, class_loss="focal", cross=False)
    labels = targets[0]["labels"]
    onehot = torch.zeros(4, 3)
    onehot[torch.arange(2), labels] = 1
    expected = sigmoid_focal_loss(out["pred_logits"][0], onehot).sum() / 2
    torch.testing.assert_close(_criterion("focal")(out, targets)["loss_ce"], expected)
    out, targets = _batch(b=1, n=4, m=2, class_loss="ce", cross=False)
    tgt = torch.tensor([int(targets[0]["labels"][0]), int(targets[0]["labels"][1]), 3, 3])
    weight = torch.tensor([1.0, 1.0, 1.0, 0.1])
    expected = F.cross_entropy(out["pred_logits"][0], tgt, weight=weight)
    torch.testing.assert_close(_criterion("ce")(out, targets)["loss_ce"], expected)


def test_normalisation_and_zero_targets(grid_points):
    """§9 item 13: N_m = max(#targets, 1); zero targets give finite losses and zero mask terms."""
    out, targets = _batch(b=2, m=2)
    assert VideoSetCriterion.num_masks(targets, torch.device("cpu")) == 4.0
    empty = [{"labels": torch.zeros(0, dtype=torch.long), "masks": torch.zeros(0, 2, SIZE, SIZE)} for _ in range(2)]
    assert VideoSetCriterion.num_masks(empty, torch.device("cpu")) == 1.0
    for class_loss in ("ce", "focal"):
        out, _ = _batch(class_loss=class_loss)
        losses = _criterion(class_loss, cross_frame_weight=0.3)(out, empty)
        assert all(torch.isfinite(v) for v in losses.values())
        assert losses["loss_mask"] == 0 and losses["loss_dice"] == 0 and losses["loss_ce"] > 0
    # doubling the batch with identical clips doubles the sums and N_m: the loss is unchanged
    out, targets = _batch(b=1, m=2)
    double = {k: torch.cat([v, v]) for k, v in out.items()}
    one, two = _criterion()(out, targets), _criterion()(double, targets + targets)
    for key in ("loss_mask", "loss_dice", "loss_ce"):
        torch.testing.assert_close(one[key], two[key])


def test_deep_supervision_keys_and_gradients():
    out, targets = _batch(class_loss="focal")
    leaves = {k: v.clone().requires_grad_(True) for k, v in out.items()}
    aux = [{"pred_logits": leaves["pred_logits"] * 0.5, "pred_masks": leaves["pred_masks"] * 0.5} for _ in range(2)]
    losses = _criterion("focal", cross_frame_weight=0.3, matcher=VideoHungarianMatcher(num_points=40, class_loss="focal"))(
        {**leaves, "aux_outputs": aux}, targets
    )
    expected = {"loss_ce", "loss_mask", "loss_dice", "loss_mask_xf", "loss_dice_xf"}
    expected |= {f"{k}_{i}" for k in ("loss_ce", "loss_mask", "loss_dice") for i in range(2)}
    assert set(losses) == expected
    sum(v for k, v in losses.items() if not k.endswith("_xf")).backward()
    assert all(leaves[k].grad.abs().sum() > 0 for k in leaves)


def test_uncertain_points_concentrate_on_the_boundary():
    torch.manual_seed(0)
    xs = torch.linspace(0, 1, 32)
    logits = (20 * (xs - 0.5)).expand(32, 32)[None, None].repeat(4, 1, 1, 1)  # boundary at x = 0.5
    pts = sample_uncertain_points(logits, num_points=200, oversample_ratio=3.0, importance_sample_ratio=1.0)
    assert pts.shape == (4, 200, 2) and pts.min() >= 0 and pts.max() <= 1
    uniform = torch.rand(4, 200, 2)
    assert (pts[..., 0] - 0.5).abs().mean() < 0.5 * (uniform[..., 0] - 0.5).abs().mean()
    mixed = sample_uncertain_points(logits, num_points=200, oversample_ratio=3.0, importance_sample_ratio=0.75)
    assert mixed.shape == (4, 200, 2)
    with pytest.raises(ValueError, match="oversample_ratio"):
        sample_uncertain_points(logits, num_points=10, oversample_ratio=0.5, importance_sample_ratio=0.5)
