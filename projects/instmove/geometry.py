"""Pad-to-square geometry of InstMove (paper 000 §4.2 "re-scale to 384×384 with padding").

Masks H×W are zero-padded to a centred square of side max(H, W) (offsets ⌊(side−H)/2⌋, ⌊(side−W)/2⌋) and resized
with nearest to S×S; images the same with bilinear; output logits are resized bilinearly back to the square side,
the centred H×W window is cropped, and sigmoid > threshold gives the mask.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["pad_offsets", "pad_masks", "pad_image", "unpad_logits"]


def pad_offsets(height: int, width: int) -> tuple[int, int, int]:
    """(side, top, left) of the centred square padding."""
    side = max(height, width)
    return side, (side - height) // 2, (side - width) // 2


def _pad(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    side, top, left = pad_offsets(h, w)
    return F.pad(x, (left, side - w - left, top, side - h - top))


def pad_masks(masks: torch.Tensor, size: int) -> torch.Tensor:
    """(..., H, W) binary masks -> (..., S, S) float {0, 1} (centred zero pad, nearest resize)."""
    lead = masks.shape[:-2]
    x = _pad(masks.float().reshape(-1, 1, *masks.shape[-2:]))
    x = F.interpolate(x, size=(size, size), mode="nearest")
    return (x > 0).float().reshape(*lead, size, size)


def pad_image(image: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, H, W) normalised image (pad value 0 = mean colour) -> (B, 3, S, S), bilinear."""
    return F.interpolate(_pad(image.float()), size=(size, size), mode="bilinear", align_corners=False)


def unpad_logits(logits: torch.Tensor, height: int, width: int, threshold: float | None = 0.5) -> torch.Tensor:
    """(..., S, S) logits -> (..., H, W): bilinear to the square side, centred crop; bool mask
    ``sigmoid > threshold`` (or the cropped logits when ``threshold`` is None)."""
    lead = logits.shape[:-2]
    side, top, left = pad_offsets(height, width)
    x = F.interpolate(logits.float().reshape(-1, 1, *logits.shape[-2:]), size=(side, side), mode="bilinear",
                      align_corners=False)
    x = x[..., top : top + height, left : left + width].reshape(*lead, height, width)
    return x if threshold is None else x.sigmoid() > threshold
