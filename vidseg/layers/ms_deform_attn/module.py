"""``MSDeformAttn``: the multi-scale deformable attention layer of Deformable DETR (projections + op)."""
import math

import torch
from torch import nn

from .function import ms_deform_attn


class MSDeformAttn(nn.Module):
    """Each query attends to ``n_points`` sampled locations per head and level around its reference point.

    Projections and initialisation follow Deformable DETR: sampling-offset weights zero with biases placing the
    P points of head m at distances 1..P along direction 2*pi*m/M (scaled so the larger coordinate is 1);
    attention weights zero (uniform softmax at start); value/output projections Xavier-uniform with zero bias.
    """

    def __init__(self, *, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4,
                 impl: str | None = None):
        """``impl`` forces an op implementation (see ``dispatch``); None follows ``$VIDSEG_MSDA_IMPL``."""
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"MSDeformAttn: d_model={d_model} must be divisible by n_heads={n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.impl = impl
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.sampling_offsets.weight, 0.0)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)  # (M, 2)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.constant_(self.attention_weights.weight, 0.0)
        nn.init.constant_(self.attention_weights.bias, 0.0)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.constant_(self.value_proj.bias, 0.0)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.constant_(self.output_proj.bias, 0.0)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        input_spatial_shapes: torch.Tensor,
        input_level_start_index: torch.Tensor,
        input_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            query: (N, Lq, C) queries (position embedding already added).
            reference_points: (N, Lq, L, 2) normalised (x, y) centres, or (N, Lq, L, 4) boxes (cx, cy, w, h);
                offsets are in pixels of each level for the former and in fractions of half the box for the latter.
            input_flatten: (N, S, C) flattened multi-level features, S = sum_l H_l * W_l.
            input_spatial_shapes: (L, 2) (H_l, W_l).
            input_level_start_index: (L,) start row of each level in ``input_flatten``.
            input_padding_mask: (N, S) bool, True at padded pixels (their values are zeroed), or None.

        Returns:
            (N, Lq, C).
        """
        n, lq, _ = query.shape
        s = input_flatten.shape[1]
        if tuple(input_spatial_shapes.shape) != (self.n_levels, 2):
            raise ValueError(f"MSDeformAttn: input_spatial_shapes must be ({self.n_levels}, 2), "
                             f"got {tuple(input_spatial_shapes.shape)}")
        m, lvl, p = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            value = value.masked_fill(input_padding_mask[..., None], 0.0)
        value = value.view(n, s, m, self.d_model // m)
        offsets = self.sampling_offsets(query).view(n, lq, m, lvl, p, 2)
        weights = self.attention_weights(query).view(n, lq, m, lvl * p).softmax(-1).view(n, lq, m, lvl, p)
        if reference_points.dim() != 4 or reference_points.shape[:3] != (n, lq, lvl):
            raise ValueError(f"MSDeformAttn: reference_points must be (N, Lq, L, 2|4) = ({n}, {lq}, {lvl}, 2|4), "
                             f"got {tuple(reference_points.shape)}")
        if reference_points.shape[-1] == 2:
            normalizer = torch.stack([input_spatial_shapes[..., 1], input_spatial_shapes[..., 0]], -1)
            locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        elif reference_points.shape[-1] == 4:
            locations = (reference_points[:, :, None, :, None, :2]
                         + offsets / p * reference_points[:, :, None, :, None, 2:] * 0.5)
        else:
            raise ValueError(
                f"MSDeformAttn: reference_points last dim must be 2 or 4, got {reference_points.shape[-1]}"
            )
        output = ms_deform_attn(value, input_spatial_shapes, input_level_start_index, locations, weights,
                                impl=self.impl)
        return self.output_proj(output)
