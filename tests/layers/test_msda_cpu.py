"""The C++ CPU kernel against the grid_sample reference: values, gradients, gradcheck, threading, edge cases."""
import pytest
import torch

from msda_testutils import CASES, forward_backward, make_inputs, rel_err
from vidseg.layers.ms_deform_attn import dispatch, ms_deform_attn, ms_deform_attn_reference

pytestmark = pytest.mark.skipif(not dispatch.impl_status()["cpu"][0], reason=dispatch.impl_status()["cpu"][1])


def cpu_kernel(*args):
    return ms_deform_attn(*args, impl="cpu")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_cpu_kernel_matches_reference(case, dtype, tol):
    inputs = make_inputs(*case, dtype=dtype, seed=sum(case[:3]))
    got = forward_backward(cpu_kernel, inputs)
    expected = forward_backward(ms_deform_attn_reference, inputs)
    for name, g, e in zip(("output", "grad_value", "grad_loc", "grad_attn"), got, expected):
        assert g.dtype == dtype
        assert rel_err(g, e) <= tol, name


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.skipif(torch.bfloat16 not in dispatch.KERNEL_DTYPES["cpu"], reason="extension built from older sources")
def test_cpu_kernel_reduced_precision_accumulates_in_float32(case, dtype):
    """bf16/fp16 inputs: the kernel equals the float64 reference on the same (rounded) inputs within 1e-2; the
    only rounding is of the results to the storage dtype, so the error is of the order of its epsilon."""
    inputs = make_inputs(*case, dtype=dtype, seed=sum(case[:3]))
    got = forward_backward(cpu_kernel, inputs)
    exact = [t.double() if t.is_floating_point() else t for t in inputs]
    expected = forward_backward(ms_deform_attn_reference, exact)
    eps = torch.finfo(dtype).eps
    for name, g, e in zip(("output", "grad_value", "grad_loc", "grad_attn"), got, expected):
        assert g.dtype == dtype
        assert rel_err(g, e) <= 1e-2, name
    # fp32 accumulation: the output error is a few ulps of the storage dtype, not sum-length times more
    assert rel_err(got[0], expected[0]) <= 2 * eps


def test_points_outside_every_map_give_zero_output_and_gradients():
    value, shapes, starts, loc, attn = make_inputs(2, 2, 3, [(3, 4), (1, 1)], 5, 2)
    far = torch.where(torch.rand(loc.shape, generator=torch.Generator().manual_seed(3)) < 0.5, -2.0, 3.0)
    out, g_value, g_loc, g_attn = forward_backward(cpu_kernel, [value, shapes, starts, far.double(), attn])
    for t in (out, g_value, g_loc, g_attn):
        assert torch.count_nonzero(t) == 0


def test_non_contiguous_inputs():
    value, shapes, starts, loc, attn = make_inputs(2, 3, 5, [(4, 3), (2, 2), (1, 1)], 6, 2)
    value_nc = value.permute(3, 1, 2, 0).contiguous().permute(3, 1, 2, 0)  # same values, permuted strides
    loc_nc = loc.transpose(0, 1).contiguous().transpose(0, 1)
    attn_nc = torch.stack([attn, torch.zeros_like(attn)], dim=-1)[..., 0]  # strided view
    assert not (value_nc.is_contiguous() or loc_nc.is_contiguous() or attn_nc.is_contiguous())
    got = forward_backward(cpu_kernel, [value_nc, shapes, starts, loc_nc, attn_nc])
    expected = forward_backward(ms_deform_attn_reference, [value, shapes, starts, loc, attn])
    for g, e in zip(got, expected):
        assert rel_err(g, e) <= 1e-10


def test_cpu_kernel_gradcheck():
    value, shapes, starts, loc, attn = make_inputs(2, 2, 3, [(3, 4), (2, 1), (1, 1)], 3, 2, seed=5)
    inputs = (value.requires_grad_(), shapes, starts, loc.requires_grad_(), attn.requires_grad_())
    assert torch.autograd.gradcheck(cpu_kernel, inputs, eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("n, m, lq", [(1, 1, 80), (1, 2, 50), (2, 3, 16), (3, 2, 20), (1, 1, 3)])
def test_results_do_not_depend_on_thread_count(n, m, lq):
    # 512 samples x channels per query and 8192 per chunk: with k threads the backward splits the N*M*Lq queries
    # into min(k, N*M*Lq*512 // 8192) chunks, which cut through heads (private buffers) in all but the last case
    inputs = make_inputs(n, m, 64, [(5, 6), (2, 3)], lq, 4)
    threads = torch.get_num_threads()
    try:
        results = []
        for k in (1, 2, 3, 5):
            torch.set_num_threads(k)
            results.append(forward_backward(cpu_kernel, inputs))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert rel_err(a, b) <= 1e-12


def test_no_queries():
    value, shapes, starts, loc, attn = make_inputs(2, 2, 3, [(3, 4)], 0, 2)
    out, g_value, g_loc, g_attn = forward_backward(cpu_kernel, [value, shapes, starts, loc, attn])
    assert out.shape == (2, 0, 6) and g_loc.shape == loc.shape and g_attn.shape == attn.shape
    assert torch.count_nonzero(g_value) == 0


def test_kernel_rejects_bad_levels_and_devices():
    value, shapes, starts, loc, attn = make_inputs(1, 2, 3, [(3, 4), (2, 2)], 4, 2)
    with pytest.raises(RuntimeError, match=r"level 1 of shape \(2, 2\) starting at row 14 does not fit"):
        dispatch.EXT.forward_cpu(value, shapes, torch.tensor([0, 14]), loc, attn)
    with pytest.raises(RuntimeError, match="share one dtype"):
        dispatch.EXT.forward_cpu(value, shapes, starts, loc.float(), attn)
    with pytest.raises(RuntimeError, match="supports float32/float64.*, got Int"):
        dispatch.EXT.forward_cpu(value.int(), shapes, starts, loc.int(), attn.int())
