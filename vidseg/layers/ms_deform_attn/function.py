"""``ms_deform_attn``: the public op (input checks, dtype promotion, dispatch) and its autograd Function."""
import torch
from torch.autograd.function import once_differentiable

from . import dispatch
from .reference import ms_deform_attn_reference


class MSDeformAttnFunction(torch.autograd.Function):
    """Autograd wrapper of the compiled kernels; ``kind`` is ``"cpu"`` or ``"cuda"``. Inputs must be contiguous
    and share one dtype (``ms_deform_attn`` takes care of both)."""

    @staticmethod
    def forward(
        ctx,
        value: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor,
        sampling_locations: torch.Tensor,
        attention_weights: torch.Tensor,
        kind: str,
    ) -> torch.Tensor:
        ctx.kind = kind
        ctx.save_for_backward(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
        forward = dispatch.EXT.forward_cuda if kind == "cuda" else dispatch.EXT.forward_cpu
        return forward(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        backward = dispatch.EXT.backward_cuda if ctx.kind == "cuda" else dispatch.EXT.backward_cpu
        grad_value, grad_loc, grad_attn = backward(*ctx.saved_tensors, grad_output.contiguous())
        return grad_value, None, None, grad_loc, grad_attn, None


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
    if spatial_shapes.device.type == "cpu" and level_start_index.device.type == "cpu":
        # Cheap (L values) and sync-free only on CPU; CUDA callers get the kernel's own checks.
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
        (N, Lq, M * D) in the promoted dtype of value / sampling_locations / attention_weights (so fp16 values
        with fp32 locations, as under autocast, compute in fp32).
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
    return MSDeformAttnFunction.apply(
        value.contiguous(),
        spatial_shapes.contiguous(),
        level_start_index.contiguous(),
        sampling_locations.contiguous(),
        attention_weights.contiguous(),
        kind,
    )
