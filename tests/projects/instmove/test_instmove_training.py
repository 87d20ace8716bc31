"""InstMove README: step-2 freezing, pad/unpad geometry, loss, IoU helper; the two-step
iteration through ``train_net``'s meta-architecture; a cheap learning smoke test."""
import numpy as np
import pytest
import torch

from projects.instmove.geometry import pad_masks, pad_offsets, unpad_logits
from projects.instmove.meta_arch import InstMovePredictor
from projects.instmove.model import InstMoveNet
from projects.instmove.synthetic import make_batch
from projects.instmove.training import InstMoveLoss, mean_iou, two_step_iteration

from instmove_testutils import reduced_cfg


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _setup(step2):
    torch.manual_seed(0)
    net = InstMoveNet(reduced_cfg(STEP2_TRAINABLE=step2))
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    batch = make_batch(np.random.default_rng(0), 4, 32, 3)
    return net, opt, InstMoveLoss(), batch


@pytest.mark.parametrize("step2", ["matching_encoder", "all_but_memory"])
def test_step2_freezes_bank_even_with_adam_moments(step2):
    net, opt, loss_fn, batch = _setup(step2)
    two_step_iteration(net, opt, loss_fn, batch, step2)  # non-zero Adam moments everywhere
    bank0 = net.memory.bank.detach().clone()
    others = {n: _snapshot(getattr(net, n)) for n in ("mask_encoder", "convlstm", "gate", "decoder")}
    others["embedder"] = _snapshot(net.memory.embedder)
    p0 = _snapshot(net.memory.matching_encoder)
    from projects.instmove.training import phase_loss

    opt.zero_grad(set_to_none=True)
    phase_loss(net, loss_fn, batch, 2, step2).backward()
    assert net.memory.bank.grad is None
    opt.step()
    assert torch.equal(net.memory.bank, bank0)
    assert not _same(p0, _snapshot(net.memory.matching_encoder))
    unchanged = {n: _same(s, _snapshot(net.memory.embedder if n == "embedder" else getattr(net, n)))
                 for n, s in others.items()}
    assert all(unchanged.values()) == (step2 == "matching_encoder")
    # step 1 does change the bank
    opt.zero_grad(set_to_none=True)
    phase_loss(net, loss_fn, batch, 1, step2).backward()
    opt.step()
    assert not torch.equal(net.memory.bank, bank0)
    assert all(p.requires_grad for p in net.parameters())  # phase 2 restored the flags


def _blob(h, w, rng):
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w), bool)
    for _ in range(3):
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        ry, rx = rng.uniform(0.1, 0.25) * h, rng.uniform(0.1, 0.25) * w
        m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return m


@pytest.mark.parametrize("hw", [(24, 40), (40, 24), (32, 32), (20, 17), (96, 160)])
def test_pad_unpad_round_trip(hw):
    h, w = hw
    mask = torch.from_numpy(_blob(h, w, np.random.default_rng(h * w)))
    padded = pad_masks(mask[None], 384)  # the canvas of the official model
    back = unpad_logits(padded * 20 - 10, h, w)[0]
    assert float(mean_iou(back[None], mask[None])[0]) > 0.95


def test_padding_is_centred():
    side, top, left = pad_offsets(10, 30)
    assert (side, top, left) == (30, 10, 0)
    m = torch.zeros(10, 30)
    m[0, 7] = 1  # one pixel; canvas = side, so no resize: it lands at (top + 0, left + 7)
    p = pad_masks(m[None], 30)[0]
    assert p.nonzero().tolist() == [[10, 7]]
    m2 = torch.zeros(7, 4)
    m2[6, 3] = 1
    assert pad_offsets(7, 4) == (7, 0, 1)
    assert pad_masks(m2[None], 7)[0].nonzero().tolist() == [[6, 4]]


def test_loss_of_perfect_logits_and_config_weights():
    target = (torch.rand(3, 32, 32) > 0.5).float()
    assert float(InstMoveLoss()(target * 40 - 20, target)) < 1e-3
    cfg = reduced_cfg()
    loss = InstMoveLoss.from_cfg(cfg)
    assert (loss.focal_weight, loss.dice_weight) == (1.0, 5.0)
    cfg.MODEL.INSTMOVE.LOSS.DICE_WEIGHT = 0.0
    logits = torch.zeros(3, 32, 32)
    only_focal = InstMoveLoss.from_cfg(cfg)(logits, target)
    # focal at p = 0.5: ce = log 2, modulating (1 - 0.5)^2, alpha 0.25 / 0.75 per class
    expected = (np.log(2) * 0.25 * (0.25 * target + 0.75 * (1 - target))).mean(dim=(1, 2)).mean()
    torch.testing.assert_close(only_focal, expected.float())


def test_iou_helper():
    e, f = torch.zeros(1, 4, 4, dtype=torch.bool), torch.ones(1, 4, 4, dtype=torch.bool)
    assert float(mean_iou(e, e)[0]) == pytest.approx(1.0)
    assert float(mean_iou(e, f)[0]) < 1e-6
    a = torch.zeros(1, 4, 4, dtype=torch.bool)
    a[0, :2] = True
    assert float(mean_iou(a, f)[0]) == pytest.approx(0.5) == float(mean_iou(f, a)[0])


def test_meta_arch_alternates_steps_on_the_same_batch():
    torch.manual_seed(0)
    model = InstMovePredictor(reduced_cfg(STEP2_TRAINABLE="all_but_memory")).train()
    b1 = make_batch(np.random.default_rng(1), 2, 32, 2)
    b2 = make_batch(np.random.default_rng(2), 2, 32, 3)
    inputs = lambda b: [{"past": b["past"][i], "target": b["target"][i]} for i in range(2)]  # noqa: E731
    l1 = model(inputs(b1))
    assert set(l1) == {"loss_step1"}
    l2 = model(inputs(b2))  # step 2 uses b1 again, not b2
    assert set(l2) == {"loss_step2"}
    with torch.no_grad():
        on_b1 = model.loss_fn(model.net(b1["past"], phase=2).logits, b1["target"])
        on_b2 = model.loss_fn(model.net(b2["past"], phase=2).logits, b2["target"])
    assert float(l2["loss_step2"]) == pytest.approx(float(on_b1), rel=1e-6)
    assert float(on_b2) != pytest.approx(float(on_b1), rel=1e-3)
    l2["loss_step2"].backward()
    assert model.net.memory.bank.grad is None
    assert all(p.grad is None for p in model.net.memory.context_encoder.parameters())
    assert set(model(inputs(b2))) == {"loss_step1"}  # and the cycle starts again
    model.eval()
    out = model(inputs(b1))
    assert out[0]["logits"].shape == (1, 32, 32) and out[0]["mask"].dtype == torch.bool


def test_two_step_training_reduces_the_loss():
    torch.manual_seed(0)
    net = InstMoveNet(reduced_cfg())
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng, loss_fn, losses = np.random.default_rng(0), InstMoveLoss(), []
    for _ in range(30):
        batch = make_batch(rng, 16, 32, int(rng.integers(2, 5)))
        losses.append(two_step_iteration(net, opt, loss_fn, batch, "matching_encoder")[1])
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
