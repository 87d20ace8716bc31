"""``ms_deform_attn``: the public op (input checks, dtype promotion, dispatch) and the compiled kernels registered
as the ``torch.library`` operators ``vidseg::ms_deform_attn`` / ``vidseg::ms_deform_attn_backward``.

The registration gives the kernels fake (meta) implementations, which compute output shapes without data, and an
autograd formula, so ``torch.compile`` traces through a model that uses them and ``torch.export`` records them as
``torch.ops.vidseg.ms_deform_attn`` nodes (an opaque ``autograd.Function`` around a pybind call could not be).
"""
import torch

from . import dispatch
from .reference import ms_deform_attn_reference

Tensor = torch.Tensor


def _kernels(value: Tensor):
    if dispatch.EXT is None:
        raise RuntimeError(f"vidseg::ms_deform_attn: {dispatch.EXT_REASON}")
    if value.is_cuda:
        return dispatch.EXT.forward_cuda, dispatch.EXT.backward_cuda
    return dispatch.EXT.forward_cpu, dispatch.EXT.backward_cpu


@torch.library.custom_op("vidseg::ms_deform_attn", mutates_args=())
def ms_deform_attn_op(value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor, sampling_locations: Tensor,
                      attention_weights: Tensor) -> Tensor:
    """The compiled kernel of the tensors' device; contiguous inputs of one dtype (``ms_deform_attn`` ensures it)."""
    forward, _ = _kernels(value)
    return forward(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)


@ms_deform_attn_op.register_fake
def _(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    n, _, m, d = value.shape
    return value.new_empty((n, sampling_locations.shape[1], m * d))


@torch.library.custom_op("vidseg::ms_deform_attn_backward", mutates_args=())
def ms_deform_attn_backward_op(value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                               sampling_locations: Tensor, attention_weights: Tensor,
                               grad_output: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(grad_value, grad_sampling_locations, grad_attention_weights) of ``ms_deform_attn_op``."""
    _, backward = _kernels(value)
    grad_value, grad_loc, grad_attn = backward(value, spatial_shapes, level_start_index, sampling_locations,
                                               attention_weights, grad_output.contiguous())
    return grad_value, grad_loc, grad_attn


@ms_deform_attn_backward_op.register_fake
def _(value, spatial_shapes, level_start_index, sampling_locations, attention_weights, grad_output):
    return torch.empty_like(value), torch.empty_like(sampling_locations), torch.empty_like(attention_weights)


def _setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
    value, shapes, starts, loc, attn = ctx.saved_tensors
    grad_value, grad_loc, grad_attn = ms_deform_attn_backward_op(value, shapes, starts, loc, attn, grad_output)
    return grad_value, None, None, grad_loc, grad_attn


ms_deform_attn_op.register_autograd(_backward, setup_context=_setup_context)


def _check_shapes(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> None:
    if value.dim() != 4:
        raise ValueError(f"ms_deform_attn: value must be (N, S, M, D), got {tuple(value.shape)}")
    n, s, m, _ = value.shape
    if spatial_shapes.dim() != 2 or spatial_shapes.shape[1] != 2 or spatial_shapes.shape[0] < 1:
        raise ValueError(
            f"ms_deform_attn: spatial_shapes must be (L, 2) with L >= 1, got {tuple(spatial_shapes.shape)}"
        )
    n_levels = spatial_shapes.shape[0]
    if tuple(level_start_index.shape) != (n_levels,):
        raise ValueError(
            f"ms_deform_attn: level_start_index must be ({n_levels},), got {tuple(level_start_index.shape)}"
        )
    loc = sampling_locations.shape
    if len(loc) != 6 or loc[0] != n or loc[2] != m or loc[3] != n_levels or loc[5] != 2:
        raise ValueError(
            f"ms_deform_attn: sampling_locations must be (N, Lq, M, L, P, 2) = ({n}, Lq, {m}, {n_levels}, P, 2), "
            f"got {tuple(loc)}"
        )
    if tuple(attention_weights.shape) != tuple(loc[:5]):
        raise ValueError(
            f"ms_deform_attn: attention_weights must be (N, Lq, M, L, P) = {tuple(loc[:5])}, "
            f"got {tuple(attention_weights.shape)}"
        )
    if (spatial_shapes.device.type == "cpu" and level_start_index.device.type == "cpu"
            and not torch.compiler.is_compiling()):
        # Cheap (L values) and sync-free only on CPU; CUDA callers and traced graphs get the kernel's own checks.
        for lid, ((h, w), start) in enumerate(zip(spatial_shapes.tolist(), level_start_index.tolist())):
            if h < 1 or w < 1 or start < 0 or start + h * w > s:
                raise ValueError(
                    f"ms_deform_attn: level {lid} of shape ({h}, {w}) at row {start} does not fit in value with "
                    f"S={s} rows"
                )


def ms_deform_attn(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
    impl: str | None = None,
) -> torch.Tensor:
    """Multi-scale deformable attention (Deformable DETR layout).

    Args:
        value: (N, S, M, D), S = sum_l H_l * W_l, levels stacked row-major.
        spatial_shapes: (L, 2) integer (H_l, W_l).
        level_start_index: (L,) integer start row of each level in ``value``.
        sampling_locations: (N, Lq, M, L, P, 2) normalised (x, y) in [0, 1]; outside reads zeros.
        attention_weights: (N, Lq, M, L, P).
        impl: ``auto|cuda|cpu|pytorch``; None reads ``$VIDSEG_MSDA_IMPL`` (default ``auto``), see ``dispatch``.

    Returns:
        (N, Lq, M * D) in the promoted dtype of value / sampling_locations / attention_weights (so bf16 values
        with fp32 locations, as under autocast, compute in fp32). The kernels accept float64 / float32 / bfloat16
        / float16 and accumulate reduced precision in float32.
    """
    _check_shapes(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    dtype = torch.promote_types(torch.promote_types(value.dtype, sampling_locations.dtype), attention_weights.dtype)
    value, sampling_locations, attention_weights = (
        t.to(dtype) for t in (value, sampling_locations, attention_weights)
    )
    spatial_shapes = spatial_shapes.to(torch.long)
    level_start_index = level_start_index.to(torch.long)
    kind = dispatch.select_impl(value, impl)
    if kind == "pytorch":
        return ms_deform_attn_reference(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    if kind == "cpu":
        spatial_shapes, level_start_index = spatial_shapes.cpu(), level_start_index.cpu()
    return ms_deform_attn_op(value.contiguous(), spatial_shapes.contiguous(), level_start_index.contiguous(),
                             sampling_locations.contiguous(), attention_weights.contiguous())
