"""VOS losses of ISVOS (paper 004 §4.1 "following AOT"; exact form from XMem, spec §3.1).

Bootstrapped CE over the K+1 aggregated logits (mean of the top-p fraction of per-pixel losses, p annealed from
1 to ``top_p`` between ``start_warm`` and ``end_warm`` iterations) + dice on the object probabilities.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def boot_fraction(it: int, start_warm: int = 20000, end_warm: int = 70000, top_p: float = 0.15) -> float:
    """p(it): 1 before ``start_warm``, ``top_p`` after ``end_warm``, linear in between."""
    if it < start_warm:
        return 1.0
    if it > end_warm:
        return top_p
    return top_p + (1 - top_p) * (end_warm - it) / (end_warm - start_warm)


def bootstrapped_ce(logits: torch.Tensor, target: torch.Tensor, p: float) -> torch.Tensor:
    """logits (B, K+1, H, W), target (B, H, W) long -> mean of the top ⌊p·N⌋ per-pixel CE values per sample,
    averaged over the batch (p = 1: plain mean CE)."""
    raw = F.cross_entropy(logits, target, reduction="none").flatten(1)  # (B, N)
    if p >= 1.0:
        return raw.mean()
    k = max(int(raw.shape[1] * p), 1)
    return raw.topk(k, dim=1).values.mean()


def dice_loss(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """probs / target (B, K, H, W) -> mean over objects and batch of 1 - (2Σpg + 1) / (Σp + Σg + 1)."""
    p, g = probs.flatten(2), target.flatten(2).float()
    d = 1 - (2 * (p * g).sum(-1) + 1) / (p.sum(-1) + g.sum(-1) + 1)
    return d.mean()
