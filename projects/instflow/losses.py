"""Losses of Instance Flow Assembly (paper 002 Eq. 1-2).

``L = L_sem + λ_cent·L_cent + λ_intra·L_intra + λ_inter·L_inter + λ_shape·L_shape``; every term is normalised over
the whole batch by its weight sum and is an exact (graph-connected) zero when that sum is 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .targets import IGNORE


@dataclass(frozen=True)
class LossWeights:
    sem: float = 1.0
    center: float = 100.0
    intra: float = 0.01
    inter: float = 0.01
    shape: float = 0.01
    sem_top_k: float = 1.0  # hard-pixel mining: fraction of the valid pixels with the largest CE kept


def _normalised(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    total = weights.sum()
    return (values * weights).sum() / total.clamp(min=1e-12) if total > 0 else (values * weights).sum() * 0.0


def semantic_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                  top_k: float = 1.0) -> torch.Tensor:
    """Cross-entropy over non-ignored pixels with hard-pixel mining (Panoptic-DeepLab ``DeepLabCE``).

    Args:
        logits: B×C×H×W; target: B×H×W long (``IGNORE`` = 255); weights: optional B×H×W per-pixel weights.
        top_k: keep the ``ceil(top_k · N_valid)`` largest pixel losses (1.0 = plain mean CE).
    """
    pixel = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")
    if weights is not None:
        pixel = pixel * weights
    valid = pixel[target != IGNORE]
    if valid.numel() == 0:
        return logits.sum() * 0.0
    if top_k < 1.0:
        valid = torch.topk(valid, max(1, int(round(top_k * valid.numel())))).values
    return valid.mean()


def center_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted MSE; pred / target / weights B×H×W."""
    return _normalised((pred - target) ** 2, weights)


def offset_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted L1 summed over (dy, dx); pred / target B×2×H×W, weights B×H×W."""
    return _normalised((pred - target).abs().sum(1), weights)


def shape_loss(pred_t: torch.Tensor, pred_r: torch.Tensor, gt_t: torch.Tensor, gt_r: torch.Tensor,
               weights: torch.Tensor) -> torch.Tensor:
    """Squared L2 between the GT and the predicted offset residual ``O^r − O^t`` (zero for a shared error)."""
    return _normalised((((gt_r - gt_t) - (pred_r - pred_t)) ** 2).sum(1), weights)


def instflow_losses(pred: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor], w: LossWeights,
                    *, inter: bool = True) -> dict[str, torch.Tensor]:
    """Weighted losses from predictions (``sem`` B×C×H×W, ``center`` B×1×H×W, ``off_t``/``off_r`` B×2×H×W) and
    batched targets of :func:`.targets.pair_targets` at the same size."""
    out = {
        "loss_sem": w.sem * semantic_loss(pred["sem"], tgt["sem"], tgt["sem_w"], w.sem_top_k),
        "loss_center": w.center * center_loss(pred["center"][:, 0], tgt["center"], tgt["center_w"]),
        "loss_intra": w.intra * offset_loss(pred["off_t"], tgt["off_t"], tgt["off_w"]),
    }
    if inter:
        out["loss_inter"] = w.inter * offset_loss(pred["off_r"], tgt["off_r"], tgt["off_r_w"])
        out["loss_shape"] = w.shape * shape_loss(pred["off_t"], pred["off_r"], tgt["off_t"], tgt["off_r"],
                                                 tgt["off_r_w"])
    return out
