"""The CUDA kernel against the grid_sample reference (float64 on CPU as ground truth). Needs a GPU and an
extension built with its CUDA kernel (on a GPU machine: ``pip install --no-deps --no-build-isolation -e .``)."""
import pytest
import torch

from msda_testutils import CASES, forward_backward, make_inputs, rel_err
from vidseg.layers import MSDeformAttn
from vidseg.layers.ms_deform_attn import dispatch, ms_deform_attn, ms_deform_attn_reference

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    pytest.mark.skipif(torch.cuda.is_available() and not dispatch.impl_status()["cuda"][0],
                       reason=f"CUDA kernel unavailable: {dispatch.impl_status()['cuda'][1]}"),
]
# fp16/bf16 compare against the float64 reference evaluated on the same (rounded) inputs
TOLERANCES = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 5e-2}


def cuda_kernel(*args):
    return ms_deform_attn(*args, impl="cuda")


@pytest.mark.parametrize("case", CASES + [(2, 8, 32, [(24, 40), (12, 20), (6, 10)], 300, 4)])
@pytest.mark.parametrize("dtype", list(TOLERANCES))
def test_cuda_kernel_matches_reference(case, dtype):
    inputs = make_inputs(*case, dtype=dtype, device="cuda", seed=sum(case[:3]))
    got = forward_backward(cuda_kernel, inputs)
    as_ref = [t.double().cpu() if t.is_floating_point() else t.cpu() for t in inputs]
    expected = forward_backward(ms_deform_attn_reference, as_ref)
    for name, g, e in zip(("output", "grad_value", "grad_loc", "grad_attn"), got, expected):
        assert g.dtype == dtype and g.is_cuda
        assert rel_err(g, e) <= TOLERANCES[dtype], name


def test_cuda_kernel_gradcheck():
    value, shapes, starts, loc, attn = make_inputs(2, 2, 3, [(3, 4), (2, 1), (1, 1)], 3, 2, device="cuda", seed=5)
    inputs = (value.requires_grad_(), shapes, starts, loc.requires_grad_(), attn.requires_grad_())
    assert torch.autograd.gradcheck(cuda_kernel, inputs, eps=1e-6, atol=1e-7)


def test_cuda_non_contiguous_and_cpu_shapes():
    value, shapes, starts, loc, attn = make_inputs(2, 3, 5, [(4, 3), (2, 2), (1, 1)], 6, 2, device="cuda")
    value_nc = value.permute(3, 1, 2, 0).contiguous().permute(3, 1, 2, 0)
    loc_nc = loc.transpose(0, 1).contiguous().transpose(0, 1)
    got = forward_backward(cuda_kernel, [value_nc, shapes.cpu(), starts.cpu(), loc_nc, attn])
    expected = forward_backward(ms_deform_attn_reference, [t.cpu() for t in (value, shapes, starts, loc, attn)])
    for g, e in zip(got, expected):
        assert rel_err(g, e) <= 1e-10


def test_cuda_matches_cpu_kernel_when_both_exist():
    if not dispatch.impl_status()["cpu"][0]:
        pytest.skip("CPU kernel not built")
    inputs = make_inputs(2, 4, 16, [(8, 10), (4, 5), (2, 3)], 50, 4, dtype=torch.float32)
    on_cpu = forward_backward(lambda *a: ms_deform_attn(*a, impl="cpu"), inputs)
    on_gpu = forward_backward(cuda_kernel, [t.cuda() for t in inputs])
    for a, b in zip(on_gpu, on_cpu):
        assert rel_err(a, b) <= 1e-5


def test_auto_picks_cuda_and_module_runs_under_autocast():
    assert dispatch.select_impl(torch.zeros(1, device="cuda")) == "cuda"
    layer = MSDeformAttn(d_model=32, n_levels=2, n_heads=4, n_points=2).cuda()
    shapes, starts = torch.tensor([[6, 8], [3, 4]], device="cuda"), torch.tensor([0, 48], device="cuda")
    query, feats = torch.randn(2, 7, 32, device="cuda"), torch.randn(2, 60, 32, device="cuda")
    ref = torch.rand(2, 7, 2, 2, device="cuda")
    expected = layer(query, ref, feats, shapes, starts)
    with torch.autocast("cuda", dtype=torch.float16):
        out = layer(query, ref, feats, shapes, starts)
        out.float().sum().backward()
    assert rel_err(out, expected) < 2e-2
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
