"""InstMove's loss (paper 000 §3.3: 1·focal + 5·dice) and the two-step training iteration (InstMove README).

Step 1: phase 1 (the context encoder q_φ sees m_{t−n..t}); the bank and every used block are trained.
Step 2: phase 2 (the matching encoder p_θ sees m_{t−n..t−1}); the bank is frozen and, by default (the paper),
only p_θ is trained; ``STEP2_TRAINABLE "all_but_memory"`` (LMC-Memory lineage) trains every block but the bank.
Frozen parameters get no gradient at all (``grad is None``), so Adam does not move them with its running moments.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from detectron2.config import CfgNode
from torch import nn

from vidseg.modeling.losses.functional import dice_per_mask, sigmoid_focal_loss

from .model import InstMoveNet

__all__ = ["InstMoveLoss", "phase_context", "two_step_iteration", "mean_iou"]


class InstMoveLoss(nn.Module):
    """λ_focal · mean-over-pixels focal + λ_dice · dice, both averaged over the masks of the batch."""

    def __init__(self, focal_weight: float = 1.0, dice_weight: float = 5.0, alpha: float = 0.25,
                 gamma: float = 2.0) -> None:
        super().__init__()
        self.focal_weight, self.dice_weight, self.alpha, self.gamma = focal_weight, dice_weight, alpha, gamma

    @classmethod
    def from_cfg(cls, cfg: CfgNode) -> "InstMoveLoss":
        lo = cfg.MODEL.INSTMOVE.LOSS
        return cls(lo.FOCAL_WEIGHT, lo.DICE_WEIGHT, lo.FOCAL_ALPHA, lo.FOCAL_GAMMA)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = logits.reshape(logits.shape[0], -1)
        g = target.reshape(target.shape[0], -1).float()
        focal = sigmoid_focal_loss(x, g, alpha=self.alpha, gamma=self.gamma).mean(dim=1).mean()
        dice = dice_per_mask(x, g).mean()
        return self.focal_weight * focal + self.dice_weight * dice


@contextmanager
def phase_context(net: InstMoveNet, phase: int, step2_trainable: str = "matching_encoder") -> Iterator[None]:
    """Within the block, a forward pass builds a graph only through the parameters trained in that step."""
    if phase == 1:
        yield
        return
    if step2_trainable not in ("matching_encoder", "all_but_memory"):
        raise ValueError(f"MODEL.INSTMOVE.STEP2_TRAINABLE: expected 'matching_encoder' or 'all_but_memory', "
                         f"got {step2_trainable!r}")
    saved = {p: p.requires_grad for p in net.parameters()}
    keep = set(net.memory.matching_encoder.parameters()) if step2_trainable == "matching_encoder" else None
    net.train_bank = False
    try:
        for p in net.parameters():
            if p is net.memory.bank or (keep is not None and p not in keep):
                p.requires_grad_(False)
        yield
    finally:
        net.train_bank = True
        for p, flag in saved.items():
            p.requires_grad_(flag)


def phase_loss(net: InstMoveNet, loss_fn: InstMoveLoss, batch: dict, phase: int,
               step2_trainable: str = "matching_encoder") -> torch.Tensor:
    """The loss of one phase on ``batch`` = {"past": (B,n,S,S), "target": (B,S,S), "image": (B,3,S,S) | None}."""
    with phase_context(net, phase, step2_trainable):
        out = net(batch["past"], batch["target"], batch.get("image"), phase=phase)
    return loss_fn(out.logits, batch["target"])


def two_step_iteration(net: InstMoveNet, optimizer: torch.optim.Optimizer, loss_fn: InstMoveLoss, batch: dict,
                       step2_trainable: str = "matching_encoder") -> tuple[float, float]:
    """One InstMove iteration: step 1 (phase 1, bank trained), then step 2 (phase 2, bank frozen) on the same
    batch, each with its own backward and optimiser step. Returns (loss step 1, loss step 2)."""
    losses = []
    for phase in (1, 2):
        optimizer.zero_grad(set_to_none=True)
        loss = phase_loss(net, loss_fn, batch, phase, step2_trainable)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses[0], losses[1]


def mean_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample IoU of (B, H, W) bool masks with the smoothing of the official code ((|∩|+1e-6)/(|∪|+1e-6))."""
    p, g = pred.reshape(pred.shape[0], -1).bool(), target.reshape(target.shape[0], -1).bool()
    inter = (p & g).sum(1).double()
    union = (p | g).sum(1).double()
    return (inter + 1e-6) / (union + 1e-6)
