"""Fixed sine position encodings (DETR / Mask2Former): 2D for B×C×H×W maps, 3D for B×T×C×H×W clips.

For a coordinate p (1-based pixel/frame index, optionally normalised to ``scale * p / max_p``) and feature index
i of F features, the encoding is ``sin(p / temperature**(2*floor(i/2)/F))`` for even i and ``cos(...)`` for odd i.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PositionEmbeddingSine", "PositionEmbeddingSine3D"]


def _sine(coord: torch.Tensor, num_feats: int, temperature: float) -> torch.Tensor:
    """(...,) coordinates -> (..., num_feats) interleaved sin/cos features."""
    idx = torch.arange(num_feats, dtype=torch.float32, device=coord.device)
    dim_t = temperature ** (2 * torch.div(idx, 2, rounding_mode="floor") / num_feats)
    angles = coord[..., None] / dim_t
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)


class _SineBase(nn.Module):
    def __init__(self, num_pos_feats: int = 64, temperature: float = 10000, normalize: bool = True,
                 scale: float | None = None) -> None:
        super().__init__()
        if num_pos_feats % 2 != 0:
            raise ValueError(f"{type(self).__name__}: num_pos_feats must be even, got {num_pos_feats}")
        if scale is not None and not normalize:
            raise ValueError(f"{type(self).__name__}: scale is only used with normalize=True")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale

    def _norm(self, embed: torch.Tensor, dim: int) -> torch.Tensor:
        if not self.normalize:
            return embed
        return embed / (embed.narrow(dim, embed.shape[dim] - 1, 1) + 1e-6) * self.scale


class PositionEmbeddingSine(_SineBase):
    """2D encoding: ``num_pos_feats`` features for y followed by ``num_pos_feats`` for x (2F channels in all).

    ``mask`` (B×H×W bool, True = padding) excludes padded pixels from the cumulative coordinates.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, H, W) (only its shape/device are used) -> (B, 2F, H, W) float32."""
        if x.dim() != 4:
            raise ValueError(f"PositionEmbeddingSine: expected a B×C×H×W tensor, got shape {tuple(x.shape)}")
        b, _, h, w = x.shape
        if mask is None:
            mask = torch.zeros((b, h, w), dtype=torch.bool, device=x.device)
        not_mask = (~mask).to(torch.float32)
        y_embed = self._norm(not_mask.cumsum(1), 1)
        x_embed = self._norm(not_mask.cumsum(2), 2)
        pos = torch.cat((_sine(y_embed, self.num_pos_feats, self.temperature),
                         _sine(x_embed, self.num_pos_feats, self.temperature)), dim=-1)
        return pos.permute(0, 3, 1, 2).contiguous()


class PositionEmbeddingSine3D(_SineBase):
    """3D encoding for clips: the 2D (y, x) encoding of each frame plus a temporal sine code of the frame index
    over all 2F channels (Mask2Former-VIS). With ``normalize`` the time axis is normalised by the clip length.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, C, H, W) -> (B, T, 2F, H, W) float32. ``mask``: (B, T, H, W) bool, True = padding."""
        if x.dim() != 5:
            raise ValueError(f"PositionEmbeddingSine3D: expected a B×T×C×H×W tensor, got shape {tuple(x.shape)}")
        b, t, _, h, w = x.shape
        if mask is None:
            mask = torch.zeros((b, t, h, w), dtype=torch.bool, device=x.device)
        not_mask = (~mask).to(torch.float32)
        z_embed = self._norm(not_mask.cumsum(1), 1)
        y_embed = self._norm(not_mask.cumsum(2), 2)
        x_embed = self._norm(not_mask.cumsum(3), 3)
        f = self.num_pos_feats
        pos_yx = torch.cat((_sine(y_embed, f, self.temperature), _sine(x_embed, f, self.temperature)), dim=-1)
        pos = pos_yx + _sine(z_embed, 2 * f, self.temperature)
        return pos.permute(0, 1, 4, 2, 3).contiguous()
