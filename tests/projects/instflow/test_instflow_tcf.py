"""method spec §9 test 3: temporal context fusion (identity at init, attention rows, gradients, rolled
reference) and a fresh model's inter decoder reproducing the intra offsets (instance flow 0)."""
import pytest
import torch
from torch import nn

from projects.instflow.tcf import TemporalContextFusion

from instflow_testutils import tiny_cfg, tiny_model


def test_shape_and_identity_at_init():
    tcf = TemporalContextFusion(16)
    x_t, x_r = torch.randn(2, 16, 5, 7), torch.randn(2, 16, 5, 7)
    for mode in (True, False):
        tcf.train(mode)
        out = tcf(x_t, x_r)
        assert out.shape == x_t.shape and torch.equal(out, x_t)


def test_attention_rows_sum_to_one_and_chunking_is_exact():
    tcf = TemporalContextFusion(16, num_heads=2)
    nn.init.ones_(tcf.norm.weight)
    x_t, x_r = torch.randn(1, 16, 4, 6), torch.randn(1, 16, 4, 6)
    a = tcf.attention(x_t, x_r)
    assert a.shape == (1, 2, 24, 24)
    torch.testing.assert_close(a.sum(-1), torch.ones(1, 2, 24))
    tcf.eval()
    full = tcf(x_t, x_r)
    tcf.query_chunk = 5
    torch.testing.assert_close(tcf(x_t, x_r), full)


def test_gradients_reach_both_frames():
    tcf = TemporalContextFusion(16)
    nn.init.ones_(tcf.norm.weight)
    x_t = torch.randn(2, 16, 4, 4, requires_grad=True)
    x_r = torch.randn(2, 16, 4, 4, requires_grad=True)
    tcf(x_t, x_r).square().sum().backward()
    assert x_t.grad.abs().sum() > 0 and x_r.grad.abs().sum() > 0


@pytest.mark.parametrize("shift", [(1, 2), (-2, 3), (0, -1)])
def test_attention_finds_the_rolled_location(shift):
    d, h, w = 32, 6, 8
    tcf = TemporalContextFusion(d, pos_encoding="none")
    with torch.no_grad():
        for conv in (tcf.q, tcf.k, tcf.v):
            conv.weight.copy_(torch.eye(d)[:, :, None, None])
            conv.bias.zero_()
    tcf.scale = 100.0
    x_t = torch.nn.functional.normalize(torch.randn(1, d, h, w), dim=1)
    x_r = torch.roll(x_t, shifts=shift, dims=(2, 3))
    a = tcf.attention(x_t, x_r)[0, 0]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    expect = ((ys + shift[0]) % h) * w + (xs + shift[1]) % w
    assert torch.equal(a.argmax(-1), expect.flatten())


def test_fresh_inter_decoder_equals_intra_offsets():
    model = tiny_model(tiny_cfg()).eval()
    frames = torch.randint(0, 255, (2, 3, 64, 96), dtype=torch.uint8)
    with torch.no_grad():
        images = model.normalize(list(frames))
        feats = model.backbone(images.tensor)
        off_t = model.intra({k: v[:1] for k, v in feats.items()})["off_t"]
        a, q = model.compact(feats)
        off_r = model.inter((a[:1], q[:1]), (a[1:], q[1:]), feats["res2"][:1])
    assert off_t.abs().sum() > 0
    torch.testing.assert_close(off_r, off_t, rtol=0, atol=1e-7)  # batch-size rounding only
