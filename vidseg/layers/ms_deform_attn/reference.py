"""Pure-PyTorch multi-scale deformable attention (Deformable DETR formulation) built on ``grid_sample``.

Works for any device and floating dtype and is differentiable through autograd; it is the fallback of the
dispatcher and the ground truth the compiled kernels are tested against.
"""
import torch
import torch.nn.functional as F


def ms_deform_attn_reference(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Bilinearly sample ``value`` per level and head, weight the samples and sum over levels and points.

    Args:
        value: (N, S, M, D) with S = sum_l H_l * W_l, level l occupying rows
            ``level_start_index[l] : level_start_index[l] + H_l * W_l`` in row-major (H_l, W_l) order.
        spatial_shapes: (L, 2) integer (H_l, W_l).
        level_start_index: (L,) integer start row of each level in ``value``.
        sampling_locations: (N, Lq, M, L, P, 2) normalised (x, y); (0, 0) is the top-left corner of the map and
            (1, 1) the bottom-right one; points outside [0, 1] read zeros (``grid_sample`` zero padding,
            ``align_corners=False``).
        attention_weights: (N, Lq, M, L, P).

    Returns:
        (N, Lq, M * D), channels of head m at ``[m * D, (m + 1) * D)``.
    """
    n, _, m, d = value.shape
    _, lq, _, n_levels, n_points, _ = sampling_locations.shape
    shapes = [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
    starts = [int(s) for s in level_start_index.tolist()]
    grids = 2 * sampling_locations - 1
    sampled = []
    for lid, ((h, w), start) in enumerate(zip(shapes, starts)):
        # (N, H*W, M, D) -> (N*M, D, H, W)
        value_l = value[:, start : start + h * w].permute(0, 2, 3, 1).reshape(n * m, d, h, w)
        # (N, Lq, M, P, 2) -> (N*M, Lq, P, 2)
        grid_l = grids[:, :, :, lid].transpose(1, 2).reshape(n * m, lq, n_points, 2)
        sampled.append(
            F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros", align_corners=False)
        )  # (N*M, D, Lq, P)
    weights = attention_weights.transpose(1, 2).reshape(n * m, 1, lq, n_levels * n_points)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1)  # (N*M, D, Lq)
    return out.view(n, m * d, lq).transpose(1, 2).contiguous()
