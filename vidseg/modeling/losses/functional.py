"""Mask and classification losses of set-prediction models, and their pairwise (matching-cost) forms.

Per-mask losses take logits and binary targets sampled at P points and return one value per mask; pairwise
costs return the R×M matrix between every prediction and every target.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def sigmoid_ce_per_mask(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over points: (R, P) logits, (R, P) targets in [0, 1] -> (R,)."""
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(dim=1)


def dice_per_mask(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``1 - (2 Σ p g + 1) / (Σ p + Σ g + 1)`` with ``p = sigmoid(logits)``: (R, P), (R, P) -> (R,)."""
    p = logits.sigmoid()
    return 1.0 - (2.0 * (p * targets).sum(dim=1) + 1.0) / (p.sum(dim=1) + targets.sum(dim=1) + 1.0)


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, *, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Element-wise sigmoid focal loss (Lin et al.), same shape as ``logits``; ``alpha < 0`` disables weighting."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


def pairwise_sigmoid_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean point BCE of every prediction against every target: (R, P), (M, P) -> (R, M)."""
    num_points = logits.shape[1]
    pos = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
    neg = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none")
    return (pos @ targets.T + neg @ (1 - targets).T) / num_points


def pairwise_dice(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss of every prediction against every target: (R, P), (M, P) -> (R, M)."""
    p = logits.sigmoid()
    numerator = 2.0 * p @ targets.T
    denominator = p.sum(dim=1)[:, None] + targets.sum(dim=1)[None, :]
    return 1.0 - (numerator + 1.0) / (denominator + 1.0)
