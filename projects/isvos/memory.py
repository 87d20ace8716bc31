"""Memory read and multi-object soft aggregation of ISVOS (paper 004 Eq. 3; spec §2.6, §2.8).

s(i, j) = -‖K_i - Q_j‖² / √C_k computed as (2 K_iᵀQ_j - ‖K_i‖²) / √C_k (‖Q_j‖² is constant over i and cancels
in the softmax over memory positions i); top-k keeps the k largest per query position; one affinity serves all
objects.
"""
from __future__ import annotations

import math

import torch


def l2_similarity(mem_key: torch.Tensor, query_key: torch.Tensor) -> torch.Tensor:
    """mem_key (B, C_k, M), query_key (B, C_k, Q) -> (B, M, Q) = (2 KᵀQ - ‖K‖²) / √C_k."""
    ck = mem_key.shape[1]
    ab = 2.0 * torch.einsum("bcm,bcq->bmq", mem_key, query_key)
    a_sq = mem_key.pow(2).sum(1)[:, :, None]
    return (ab - a_sq) / math.sqrt(ck)


def softmax_affinity(similarity: torch.Tensor, top_k: int = 0) -> torch.Tensor:
    """Softmax over memory positions (dim 1); with ``0 < top_k < M`` only the k largest per column survive."""
    if top_k <= 0 or top_k >= similarity.shape[1]:
        return similarity.softmax(dim=1)
    values, idx = similarity.topk(top_k, dim=1)
    return torch.zeros_like(similarity).scatter_(1, idx, values.softmax(dim=1))


def read_memory(mem_key: torch.Tensor, mem_value: torch.Tensor, query_key: torch.Tensor, top_k: int = 0) -> torch.Tensor:
    """
    Args:
        mem_key: (B, C_k, T, h, w); mem_value: (B, K, C_v, T, h, w); query_key: (B, C_k, h, w).

    Returns:
        F_mem (B, K, C_v, h, w).
    """
    b, ck, h, w = query_key.shape
    aff = softmax_affinity(l2_similarity(mem_key.flatten(2).float(), query_key.flatten(2).float()), top_k)
    v = mem_value.flatten(3).float()  # (B, K, C_v, T·h·w)
    out = torch.einsum("bkcm,bmq->bkcq", v, aff)
    return out.view(b, mem_value.shape[1], mem_value.shape[2], h, w)


def soft_aggregate(prob: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """K object probabilities -> (logits, probabilities) of K+1 classes, background first (STM soft aggregation).

    p_0 = Π(1 - p_k); logits ℓ_j = logit(clamp(p_j, 1e-7, 1 - 1e-7)); P = softmax(ℓ).
    """
    bg = torch.prod(1 - prob, dim=dim, keepdim=True)
    p = torch.cat([bg, prob], dim).clamp(1e-7, 1 - 1e-7)
    logits = torch.log(p / (1 - p))
    return logits, logits.softmax(dim)
