"""The grid_sample reference against hand-computed values and an independent brute-force loop; its gradients."""
import math

import pytest
import torch

from msda_testutils import CASES, make_inputs, rel_err
from vidseg.layers.ms_deform_attn import ms_deform_attn_reference


def brute_force(value, spatial_shapes, level_start_index, loc, attn) -> torch.Tensor:
    """Explicit per-sample bilinear interpolation with zero padding, pixel centres at (i + 0.5) / size."""
    n_b, _, n_h, d = value.shape
    _, lq, _, n_levels, n_p, _ = loc.shape
    out = torch.zeros(n_b, lq, n_h, d, dtype=torch.float64)
    for n in range(n_b):
        for q in range(lq):
            for m in range(n_h):
                for lvl in range(n_levels):
                    h, w = (int(v) for v in spatial_shapes[lvl])
                    start = int(level_start_index[lvl])
                    for p in range(n_p):
                        x = float(loc[n, q, m, lvl, p, 0]) * w - 0.5
                        y = float(loc[n, q, m, lvl, p, 1]) * h - 0.5
                        x0, y0 = math.floor(x), math.floor(y)
                        for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                            if 0 <= yy < h and 0 <= xx < w:
                                weight = (1 - abs(x - xx)) * (1 - abs(y - yy))
                                out[n, q, m] += attn[n, q, m, lvl, p] * weight * value[n, start + yy * w + xx, m]
    return out.reshape(n_b, lq, n_h * d)


def test_hand_computed_single_level():
    # one 2x2 map, one head, one channel: [[1, 2], [3, 4]]
    value = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).view(1, 4, 1, 1)
    shapes, starts = torch.tensor([[2, 2]]), torch.tensor([0])
    points = {(0.5, 0.5): 2.5, (0.25, 0.25): 1.0, (0.75, 0.25): 2.0, (0.25, 0.75): 3.0, (0.0, 0.0): 0.25,
              (1.0, 0.5): 0.5 * (2.0 + 4.0) / 2, (1.5, 0.5): 0.0, (-0.3, 0.5): 0.0, (0.5, 0.375): 2.0}
    loc = torch.tensor(list(points), dtype=torch.float64).view(1, len(points), 1, 1, 1, 2)
    attn = torch.full((1, len(points), 1, 1, 1), 2.0, dtype=torch.float64)
    out = ms_deform_attn_reference(value, shapes, starts, loc, attn)
    expected = 2.0 * torch.tensor(list(points.values()), dtype=torch.float64).view(1, -1, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_levels_heads_and_weights_combine_linearly():
    # two levels, two heads: output of head m = sum over levels/points of weight * sample of that head's channels
    value = torch.zeros(1, 5, 2, 2, dtype=torch.float64)
    value[0, :4, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])  # level 0 (2x2), head 0, channel 0
    value[0, 4, 1, 1] = 10.0  # level 1 (1x1), head 1, channel 1
    shapes, starts = torch.tensor([[2, 2], [1, 1]]), torch.tensor([0, 4])
    loc = torch.full((1, 1, 2, 2, 1, 2), 0.5, dtype=torch.float64)  # every point at the map centre
    attn = torch.tensor([[0.3, 0.7], [0.6, 0.4]], dtype=torch.float64).view(1, 1, 2, 2, 1)
    out = ms_deform_attn_reference(value, shapes, starts, loc, attn)
    # head 0: 0.3 * 2.5 (centre of level 0) + 0.7 * 0 ; head 1: 0.6 * 0 + 0.4 * 10 (level 1 only has channel 1)
    torch.testing.assert_close(out, torch.tensor([[[0.75, 0.0, 0.0, 4.0]]], dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES[:4])
def test_reference_matches_brute_force(case):
    inputs = make_inputs(*case)
    out = ms_deform_attn_reference(*inputs)
    assert out.shape == (case[0], case[4], case[1] * case[2])
    assert rel_err(out, brute_force(*inputs)) < 1e-12


def test_reference_respects_level_start_index():
    # levels stored in reverse order with a gap: same result as the packed layout
    value, shapes, starts, loc, attn = make_inputs(1, 2, 3, [(3, 4), (2, 2)], 5, 2)
    lvl0, lvl1 = value[:, :12], value[:, 12:]
    moved = torch.cat([lvl1, torch.full_like(lvl1[:, :3], 1e6), lvl0], dim=1)
    out = ms_deform_attn_reference(moved, shapes, torch.tensor([7, 0]), loc, attn)
    assert rel_err(out, ms_deform_attn_reference(value, shapes, starts, loc, attn)) < 1e-14


def test_reference_gradcheck():
    value, shapes, starts, loc, attn = make_inputs(1, 2, 2, [(3, 2), (1, 1)], 3, 2, lo=0.05, hi=0.95)
    inputs = (value.requires_grad_(), shapes, starts, loc.requires_grad_(), attn.requires_grad_())
    assert torch.autograd.gradcheck(ms_deform_attn_reference, inputs, eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_reference_low_precision_dtypes(dtype):
    inputs = make_inputs(2, 2, 4, [(4, 5), (2, 2)], 6, 2)
    expected = ms_deform_attn_reference(*inputs)
    low = [t.to(dtype) if t.is_floating_point() else t for t in inputs]
    out = ms_deform_attn_reference(*low)
    assert out.dtype == dtype
    assert rel_err(out, expected) < {torch.float32: 1e-6, torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]
