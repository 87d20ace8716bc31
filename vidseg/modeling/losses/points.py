"""Point sampling for mask losses and matching costs (PointRend-style, as Mask2Former trains its masks).

Coordinates are normalised ``(x, y)`` in ``[0, 1]²`` of the mask, so predictions at 1/4 resolution and targets at
full resolution are sampled at the same physical locations.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def point_sample(inputs: torch.Tensor, coords: torch.Tensor, *, align_corners: bool = False) -> torch.Tensor:
    """Bilinear values of ``inputs`` at ``coords``.

    Args:
        inputs: (R, C, H, W) maps.
        coords: (R, P, 2) normalised (x, y) in [0, 1]².
        align_corners: ``grid_sample`` convention (False: 0 and 1 are the outer pixel borders).

    Returns:
        (R, C, P) sampled values (zero padding outside the map).
    """
    if inputs.dim() != 4 or coords.dim() != 3 or coords.shape[-1] != 2:
        raise ValueError(
            f"point_sample: expected inputs R×C×H×W and coords R×P×2, "
            f"got {tuple(inputs.shape)} and {tuple(coords.shape)}"
        )
    grid = (2.0 * coords - 1.0).unsqueeze(2).to(inputs.dtype)
    return F.grid_sample(inputs, grid, mode="bilinear", align_corners=align_corners).squeeze(3)


def logit_uncertainty(logits: torch.Tensor) -> torch.Tensor:
    """Uncertainty of binary mask logits: ``-|logit|`` (highest at the decision boundary)."""
    return -logits.abs()


def sample_uncertain_points(
    logits: torch.Tensor, *, num_points: int, oversample_ratio: float, importance_sample_ratio: float
) -> torch.Tensor:
    """PointRend training points: oversample ``oversample_ratio * num_points`` uniform random points, keep the
    ``importance_sample_ratio * num_points`` most uncertain ones and fill up with fresh uniform points.

    Args:
        logits: (R, 1, H, W) mask logits (their uncertainty drives the choice; no gradient flows).
        num_points: P points per mask.
        oversample_ratio: >= 1.
        importance_sample_ratio: in [0, 1].

    Returns:
        (R, P, 2) normalised (x, y) coordinates, drawn from the global torch RNG.
    """
    if oversample_ratio < 1 or not 0 <= importance_sample_ratio <= 1:
        raise ValueError(
            f"sample_uncertain_points: oversample_ratio must be >= 1 and importance_sample_ratio in [0, 1], got "
            f"{oversample_ratio} and {importance_sample_ratio}"
        )
    r = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    coords = torch.rand(r, num_sampled, 2, device=logits.device)
    uncertainty = logit_uncertainty(point_sample(logits.detach(), coords))[:, 0]  # (R, num_sampled)
    num_uncertain = int(importance_sample_ratio * num_points)
    num_random = num_points - num_uncertain
    idx = torch.topk(uncertainty, k=num_uncertain, dim=1)[1]
    picked = torch.gather(coords, 1, idx[..., None].expand(-1, -1, 2))
    if num_random > 0:
        picked = torch.cat([picked, torch.rand(r, num_random, 2, device=logits.device)], dim=1)
    return picked
