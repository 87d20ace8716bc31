"""``MSDeformAttn``: Deformable DETR initialisation, shapes, reference-point modes, padding, impl parity."""
import math

import pytest
import torch

from msda_testutils import rel_err
from vidseg.layers import MSDeformAttn, ms_deform_attn
from vidseg.layers.ms_deform_attn import dispatch

SHAPES = torch.tensor([[6, 8], [3, 4]])
STARTS = torch.tensor([0, 48])


def inputs(n=2, lq=5, c=16, points=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    query = torch.randn(n, lq, c, generator=gen)
    ref = torch.rand(n, lq, 2, points, generator=gen)
    feats = torch.randn(n, 60, c, generator=gen)
    return query, ref, feats


def test_init_matches_deformable_detr():
    attn = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=3)
    bias = attn.sampling_offsets.bias.view(4, 2, 3, 2)
    # head m points along angle 2*pi*m/4, scaled so the larger |coordinate| is 1, point k at distance k+1
    directions = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    for m in range(4):
        for k in range(3):
            torch.testing.assert_close(bias[m, 0, k], directions[m] * (k + 1), atol=1e-6, rtol=0)
            torch.testing.assert_close(bias[m, 1, k], bias[m, 0, k])
    diag = MSDeformAttn(d_model=16, n_levels=1, n_heads=8, n_points=1).sampling_offsets.bias.view(8, 2)
    torch.testing.assert_close(diag[1], torch.tensor([1.0, math.sin(math.pi / 4) / math.cos(math.pi / 4)]))
    for layer in (attn.sampling_offsets, attn.attention_weights):
        assert torch.count_nonzero(layer.weight) == 0
    assert torch.count_nonzero(attn.attention_weights.bias) == 0
    assert torch.count_nonzero(attn.value_proj.bias) == 0 and torch.count_nonzero(attn.output_proj.bias) == 0
    bound = math.sqrt(6.0 / (16 + 16))  # xavier_uniform
    assert attn.value_proj.weight.abs().max() <= bound and attn.value_proj.weight.std() > 0.3 * bound


def test_forward_equals_manual_composition():
    torch.manual_seed(0)
    layer = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=3, impl="pytorch")
    for p in layer.parameters():
        torch.nn.init.normal_(p, std=0.3)
    query, ref, feats = inputs(points=2)
    out = layer(query, ref, feats, SHAPES, STARTS)
    value = layer.value_proj(feats).view(2, 60, 4, 4)
    offsets = layer.sampling_offsets(query).view(2, 5, 4, 2, 3, 2)
    weights = layer.attention_weights(query).view(2, 5, 4, 6).softmax(-1).view(2, 5, 4, 2, 3)
    wh = torch.tensor([[8.0, 6.0], [4.0, 3.0]])  # (W, H) per level
    loc = ref[:, :, None, :, None, :] + offsets / wh[None, None, None, :, None, :]
    expected = layer.output_proj(ms_deform_attn(value, SHAPES, STARTS, loc, weights, impl="pytorch"))
    torch.testing.assert_close(out, expected)
    assert out.shape == (2, 5, 16)


def test_box_reference_points_scale_offsets_by_box_size():
    layer = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=2, impl="pytorch")
    query, ref, feats = inputs()
    # a zero-size box puts every sampling point on the box centre: same as 2-d points with zero offsets
    boxes = torch.cat([ref, torch.zeros_like(ref)], dim=-1)
    torch.nn.init.zeros_(layer.sampling_offsets.bias)
    out_boxes = layer(query, boxes, feats, SHAPES, STARTS)
    out_points = layer(query, ref, feats, SHAPES, STARTS)
    torch.testing.assert_close(out_boxes, out_points)


def test_padding_mask_zeroes_masked_values():
    layer = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=2, impl="pytorch")
    query, ref, feats = inputs()
    mask = torch.zeros(2, 60, dtype=torch.bool)
    mask[:, 30:] = True
    masked = layer(query, ref, feats, SHAPES, STARTS, input_padding_mask=mask)
    changed = feats.clone()
    changed[:, 30:] = 100.0  # masked pixels: their features must not matter
    torch.testing.assert_close(layer(query, ref, changed, SHAPES, STARTS, input_padding_mask=mask), masked)
    assert not torch.allclose(layer(query, ref, feats, SHAPES, STARTS), masked)


@pytest.mark.skipif(not dispatch.impl_status()["cpu"][0], reason="CPU kernel not built")
def test_cpu_kernel_and_reference_give_same_module_output_and_grads():
    torch.manual_seed(1)
    layer = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=2).double()
    query, ref, feats = (t.double() for t in inputs())
    grads = {}
    for impl in ("cpu", "pytorch"):
        layer.impl = impl
        layer.zero_grad()
        out = layer(query, ref, feats, SHAPES, STARTS)
        out.square().sum().backward()
        grads[impl] = [out.detach()] + [p.grad.clone() for p in layer.parameters()]
    for a, b in zip(grads["cpu"], grads["pytorch"]):
        assert rel_err(a, b) < 1e-10


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="d_model=10 must be divisible by n_heads=4"):
        MSDeformAttn(d_model=10, n_heads=4)
    layer = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=2)
    query, ref, feats = inputs()
    with pytest.raises(ValueError, match="last dim must be 2 or 4, got 3"):
        layer(query, torch.rand(2, 5, 2, 3), feats, SHAPES, STARTS)
    with pytest.raises(ValueError, match=r"reference_points must be \(N, Lq, L, 2\|4\)"):
        layer(query, ref[:, :, :1], feats, SHAPES, STARTS)
    with pytest.raises(ValueError, match=r"input_spatial_shapes must be \(2, 2\)"):
        layer(query, ref, feats, SHAPES[:1], STARTS[:1])
    with pytest.raises(TypeError):
        MSDeformAttn(16)  # keyword-only
