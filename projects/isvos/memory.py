"""Memory read and multi-object soft aggregation of ISVOS (paper 004 Eq. 3; spec §2.6, §2.8).

s(i, j) = -‖K_i - Q_j‖² / √C_k computed as (2 K_iᵀQ_j - ‖K_i‖²) / √C_k (‖Q_j‖² is constant over i and cancels
in the softmax over memory positions i); top-k keeps the k largest per query position; one affinity serves all
objects.

With top-k the readout never builds the dense (T·h·w)×(h·w) affinity: each query position's k weights gather
their k memory values (``embedding_bag`` with per-sample weights), k·C_v·K multiply-adds per position instead of
T·h·w·C_v·K. Same result as the dense scatter-then-matmul form (tested), which training's full softmax still uses.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def l2_similarity(mem_key: torch.Tensor, query_key: torch.Tensor, *, query_major: bool = False) -> torch.Tensor:
    """mem_key (B, C_k, M), query_key (B, C_k, Q) -> (B, M, Q) = (2 KᵀQ - ‖K‖²) / √C_k; (B, Q, M) if
    ``query_major`` (memory positions contiguous, for top-k over them)."""
    ck = mem_key.shape[1]
    a_sq = mem_key.pow(2).sum(1)
    if query_major:
        return (2.0 * torch.einsum("bcq,bcm->bqm", query_key, mem_key) - a_sq[:, None, :]) / math.sqrt(ck)
    return (2.0 * torch.einsum("bcm,bcq->bmq", mem_key, query_key) - a_sq[:, :, None]) / math.sqrt(ck)


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
    k, cv = mem_value.shape[1:3]
    mk, qk = mem_key.flatten(2).float(), query_key.flatten(2).float()
    v = mem_value.flatten(3).float()  # (B, K, C_v, M)
    if 0 < top_k < mk.shape[-1]:
        sim = l2_similarity(mk, qk, query_major=True)  # (B, Q, M)
        values, idx = sim.topk(top_k, dim=-1)  # (B, Q, k)
        weights = values.softmax(dim=-1)
        table = v.flatten(1, 2).transpose(1, 2)  # (B, M, K·C_v): one row per memory position
        out = torch.stack([F.embedding_bag(idx[i], table[i].contiguous(), per_sample_weights=weights[i], mode="sum")
                           for i in range(b)])  # (B, Q, K·C_v)
        return out.transpose(1, 2).reshape(b, k, cv, h, w)
    aff = softmax_affinity(l2_similarity(mk, qk), top_k)
    out = torch.einsum("bkcm,bmq->bkcq", v, aff)
    return out.view(b, k, cv, h, w)


def soft_aggregate(prob: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """K object probabilities -> (logits, probabilities) of K+1 classes, background first (STM soft aggregation).

    p_0 = Π(1 - p_k); logits ℓ_j = logit(clamp(p_j, 1e-7, 1 - 1e-7)); P = softmax(ℓ).
    """
    bg = torch.prod(1 - prob, dim=dim, keepdim=True)
    p = torch.cat([bg, prob], dim).clamp(1e-7, 1 - 1e-7)
    logits = torch.log(p / (1 - p))
    return logits, logits.softmax(dim)
