"""Dispatcher (impl selection, forcing, missing kernels) and input validation of ``ms_deform_attn``."""
import pytest
import torch

from msda_testutils import make_inputs, rel_err
from vidseg.layers.ms_deform_attn import dispatch, ms_deform_attn, ms_deform_attn_reference


@pytest.fixture
def no_extension(monkeypatch):
    monkeypatch.setattr(dispatch, "EXT", None)
    monkeypatch.setattr(dispatch, "EXT_REASON", "extension MultiScaleDeformableAttention is not importable (test)")


def test_requested_impl_reads_env_and_argument(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    assert dispatch.requested_impl() == "auto"
    monkeypatch.setenv(dispatch.ENV_VAR, " PyTorch ")
    assert dispatch.requested_impl() == "pytorch"
    assert dispatch.requested_impl("cpu") == "cpu"  # the argument wins over the environment


def test_bad_impl_names_the_source(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "triton")
    with pytest.raises(ValueError, match="VIDSEG_MSDA_IMPL='triton'.*auto, cuda, cpu, pytorch"):
        dispatch.requested_impl()
    with pytest.raises(ValueError, match="impl argument='gpu'"):
        dispatch.select_impl(torch.zeros(1), "gpu")


def test_env_forces_reference(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "pytorch")
    assert dispatch.select_impl(torch.zeros(1, dtype=torch.float32)) == "pytorch"


def test_auto_without_extension_falls_back(no_extension):
    assert dispatch.select_impl(torch.zeros(1), "auto") == "pytorch"
    inputs = make_inputs(1, 2, 3, [(3, 3)], 4, 2)
    assert rel_err(ms_deform_attn(*inputs), ms_deform_attn_reference(*inputs)) == 0.0


@pytest.mark.parametrize("forced", ["cpu", "cuda"])
def test_forced_missing_kernel_raises_with_reason(no_extension, forced):
    with pytest.raises(RuntimeError, match=f"'{forced}' was forced but is unavailable: extension .* not importable"):
        dispatch.select_impl(torch.zeros(1), forced)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_forced_cuda_without_gpu_says_why():
    with pytest.raises(RuntimeError, match="'cuda' was forced but is unavailable: .*"):
        dispatch.select_impl(torch.zeros(1), "cuda")


@pytest.mark.skipif(not dispatch.impl_status()["cpu"][0], reason="CPU kernel not built")
@pytest.mark.skipif(torch.bfloat16 not in dispatch.KERNEL_DTYPES["cpu"], reason="extension built from older sources")
def test_cpu_kernel_dtype_rules():
    assert dispatch.select_impl(torch.zeros(1, dtype=torch.float32), "auto") == "cpu"
    assert dispatch.select_impl(torch.zeros(1, dtype=torch.float64), "auto") == "cpu"
    assert dispatch.select_impl(torch.zeros(1, dtype=torch.float16), "auto") == "cpu"
    assert dispatch.select_impl(torch.zeros(1, dtype=torch.bfloat16), "cpu") == "cpu"
    assert dispatch.select_impl(torch.zeros(1, dtype=torch.complex64), "auto") == "pytorch"
    with pytest.raises(RuntimeError, match="'cpu' was forced but supports float32, float64, float16, bfloat16, not "
                                           "torch.complex64"):
        dispatch.select_impl(torch.zeros(1, dtype=torch.complex64), "cpu")


def test_mixed_dtypes_are_promoted():
    value, shapes, starts, loc, attn = make_inputs(1, 2, 3, [(3, 4)], 4, 2, dtype=torch.float32)
    out = ms_deform_attn(value.half(), shapes.int(), starts.int(), loc, attn)
    assert out.dtype == torch.float32
    assert rel_err(out, ms_deform_attn_reference(value.half().float(), shapes, starts, loc, attn)) < 1e-6


@pytest.mark.parametrize(
    "index, replace, message",
    [
        (0, lambda t: t[0], r"value must be \(N, S, M, D\)"),
        (1, lambda t: t.view(-1), r"spatial_shapes must be \(L, 2\)"),
        (2, lambda t: t[:1], r"level_start_index must be \(2,\)"),
        (3, lambda t: t[:, :, :1], r"sampling_locations must be \(N, Lq, M, L, P, 2\)"),
        (4, lambda t: t[..., :1], r"attention_weights must be \(N, Lq, M, L, P\) = \(1, 4, 2, 2, 3\)"),
        (2, lambda t: torch.tensor([0, 14]), r"level 1 of shape \(2, 2\) at row 14 does not fit in value with S=16"),
    ],
)
def test_bad_inputs_raise_one_clear_error(index, replace, message):
    args = make_inputs(1, 2, 3, [(3, 4), (2, 2)], 4, 3)
    args[index] = replace(args[index])
    with pytest.raises(ValueError, match=message):
        ms_deform_attn(*args)
