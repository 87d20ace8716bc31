"""InstMove README: parameter counts, shapes, addressing, phases, difference input, gradients."""
import pytest
import torch

from projects.instmove.model import InstMoveNet
from vidseg.config import get_cfg

from instmove_testutils import reduced_cfg


def _count(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def test_full_config_parameter_counts_match_official_layout():
    torch.manual_seed(0)
    net = InstMoveNet(get_cfg())  # defaults = official layout, random image encoder (no download)
    counts = {
        "mask_encoder": _count(net.mask_encoder), "convlstm": _count(net.convlstm),
        "q": _count(net.memory.context_encoder), "p": _count(net.memory.matching_encoder),
        "embedder": _count(net.memory.embedder), "bank": net.memory.bank.numel(), "gate": _count(net.gate),
        "image": _count(net.image_encoder), "decoder": _count(net.decoder),
    }
    assert counts == {"mask_encoder": 259008, "convlstm": 4722688, "q": 13495680, "p": 13495680,
                      "embedder": 1474944, "bank": 51200, "gate": 6288, "image": 1434816, "decoder": 3356609}
    assert _count(net) == 38296913
    assert _count(net) - counts["q"] == 24801233
    assert tuple(net.memory.bank.shape) == (100, 512)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_shapes_and_addressing_weights(n):
    torch.manual_seed(n)
    net = InstMoveNet(reduced_cfg(size=64))
    past = (torch.rand(2, n, 64, 64) > 0.5).float()
    out = net(past)
    assert out.logits.shape == (2, 1, 64, 64)
    assert out.weights.shape == (2 * 4 * 4, 20)
    assert (out.weights >= 0).all()
    torch.testing.assert_close(out.weights.sum(1), torch.ones(32), atol=1e-5, rtol=0)


def test_image_encoder_path_shapes():
    torch.manual_seed(0)
    net = InstMoveNet(reduced_cfg(size=32, IMAGE_ENCODER="trainable"))
    out = net((torch.rand(1, 2, 32, 32) > 0.5).float(), image=torch.randn(1, 3, 32, 32))
    assert out.logits.shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="image"):
        net((torch.rand(1, 2, 32, 32) > 0.5).float())


def test_canvas_not_divisible_by_16_is_an_error():
    with pytest.raises(ValueError, match="divisible by 16"):
        InstMoveNet(reduced_cfg(size=40))
    net = InstMoveNet(reduced_cfg(size=32))
    with pytest.raises(ValueError, match="divisible by 16"):
        net(torch.zeros(1, 2, 40, 40))


def test_phase1_needs_target_phase2_ignores_it():
    torch.manual_seed(0)
    net = InstMoveNet(reduced_cfg())
    past = (torch.rand(2, 3, 32, 32) > 0.5).float()
    with pytest.raises(ValueError, match="target"):
        net(past, phase=1)
    a = net(past, phase=2).logits
    b = net(past, target=torch.ones(2, 32, 32), phase=2).logits
    assert torch.equal(a, b)
    c = net(past, target=torch.ones(2, 32, 32), phase=1).logits
    assert not torch.equal(a, c)  # the context encoder sees the target


def test_readout_is_convex_combination_of_bank_rows():
    torch.manual_seed(1)
    net = InstMoveNet(reduced_cfg())
    out = net((torch.rand(3, 4, 32, 32) > 0.5).float())
    bank = net.memory.bank.detach()
    lo, hi = bank.min(0).values, bank.max(0).values  # per channel (column of M)
    r = out.readout.permute(0, 2, 3, 1).reshape(-1, bank.shape[1])
    assert (r >= lo - 1e-5).all() and (r <= hi + 1e-5).all()
    torch.testing.assert_close(out.readout.permute(0, 2, 3, 1).reshape(-1, bank.shape[1]), out.weights @ bank)


def test_static_sequences_give_identical_motion_features():
    torch.manual_seed(2)
    net = InstMoveNet(reduced_cfg())
    a = (torch.rand(1, 32, 32) > 0.5).float().expand(1, 3, 32, 32)
    b = torch.zeros(1, 32, 32)
    b[:, 4:20, 6:30] = 1
    b = b.expand(1, 3, 32, 32)
    za, zb = net.memory.matching_encoder(a), net.memory.matching_encoder(b)
    assert torch.equal(za, zb)
    oa, ob = net(a), net(b)
    assert torch.equal(oa.readout, ob.readout) and torch.equal(oa.weights, ob.weights)
    assert not torch.equal(oa.logits, ob.logits)  # the mask path still sees the different masks


def test_gradient_routing_between_phases():
    torch.manual_seed(3)
    net = InstMoveNet(reduced_cfg())
    past, target = (torch.rand(2, 2, 32, 32) > 0.5).float(), (torch.rand(2, 32, 32) > 0.5).float()
    net(past, target, phase=2).logits.sum().backward()
    assert all(p.grad is None for p in net.memory.context_encoder.parameters())
    assert all(p.grad is not None for p in net.memory.matching_encoder.parameters())
    net.zero_grad(set_to_none=True)
    net(past, target, phase=1).logits.sum().backward()
    assert all(p.grad is None for p in net.memory.matching_encoder.parameters())
    assert all(p.grad is not None for p in net.memory.context_encoder.parameters())
    assert net.memory.bank.grad is not None
