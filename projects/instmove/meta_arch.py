"""``InstMovePredictor``: InstMove as a detectron2 meta-architecture, so ``train_net.py`` trains it.

detectron2's trainer makes one backward and one optimiser step per call, so the two-step iteration of paper 000
§3.3 is spread over two trainer iterations: an even iteration runs step 1 (phase 1, the bank trained) on a new
batch and keeps it; the following odd iteration runs step 2 (phase 2, bank frozen, by default only p_θ trained)
on that same batch (the batch loaded for it is not used). ``SOLVER.MAX_ITER`` therefore counts optimiser steps:
the paper's 10 K iterations are ``MAX_ITER 20000``. Frozen parameters get ``grad None`` (the trainer clears
gradients to ``None``), so Adam(W) leaves them untouched.
"""
from __future__ import annotations

from collections import defaultdict

import torch
from detectron2.config import CfgNode
from detectron2.modeling import META_ARCH_REGISTRY
from torch import nn

from .model import InstMoveNet
from .training import InstMoveLoss, phase_context

__all__ = ["InstMovePredictor"]


def collate(batched_inputs: list[dict], device: torch.device) -> list[dict]:
    """Group samples by their number of past masks n: [{"past": (B,n,S,S), "target": (B,S,S), "image"?}]."""
    groups: dict[int, list[dict]] = defaultdict(list)
    for x in batched_inputs:
        if "past" not in x or "target" not in x:
            raise ValueError("InstMovePredictor: inputs need 'past' and 'target' (INPUT.MAPPER.TRAIN "
                             "'MaskSequenceMapper')")
        groups[int(x["past"].shape[0])].append(x)
    out = []
    for n in sorted(groups):
        xs = groups[n]
        batch = {
            "past": torch.stack([x["past"] for x in xs]).float().to(device),
            "target": torch.stack([x["target"] for x in xs]).float().to(device),
        }
        if all(x.get("image") is not None for x in xs):
            batch["image"] = torch.stack([x["image"] for x in xs]).float().to(device)
        out.append(batch)
    return out


@META_ARCH_REGISTRY.register()
class InstMovePredictor(nn.Module):
    """Training: ``forward(batched_inputs)`` -> ``{"loss_step1": ...}`` or ``{"loss_step2": ...}`` (alternating).
    Inference: one dict per input with ``logits`` (1×S×S) and ``mask`` (S×S bool)."""

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__()
        self.net = InstMoveNet(cfg)
        self.loss_fn = InstMoveLoss.from_cfg(cfg)
        self.step2_trainable = cfg.MODEL.INSTMOVE.STEP2_TRAINABLE
        self.threshold = float(cfg.MODEL.INSTMOVE.MASK_THRESHOLD)
        self.register_buffer("_step", torch.zeros((), dtype=torch.long), persistent=False)
        self._cached: list[dict] | None = None
        self.to(torch.device(cfg.MODEL.DEVICE))

    @property
    def device(self) -> torch.device:
        return self.net.memory.bank.device

    def _loss(self, batches: list[dict], phase: int) -> torch.Tensor:
        total = sum(b["past"].shape[0] for b in batches)
        loss = 0.0
        for b in batches:
            with phase_context(self.net, phase, self.step2_trainable):
                out = self.net(b["past"], b["target"], b.get("image"), phase=phase)
            loss = loss + self.loss_fn(out.logits, b["target"]) * (b["past"].shape[0] / total)
        return loss

    def forward(self, batched_inputs: list[dict]):
        if not self.training:
            return self.inference(batched_inputs)
        phase = 1 if int(self._step) % 2 == 0 else 2
        self._step += 1
        if phase == 1 or self._cached is None:
            self._cached = collate(batched_inputs, self.device)
            phase = 1
        loss = self._loss(self._cached, phase)
        if phase == 2:
            self._cached = None
        return {f"loss_step{phase}": loss}

    @torch.no_grad()
    def inference(self, batched_inputs: list[dict]) -> list[dict]:
        results: list[dict] = []
        for x in batched_inputs:
            past = x["past"].float().to(self.device)[None]
            image = x.get("image")
            image = image.float().to(self.device)[None] if image is not None else None
            logits = self.net(past, image=image, phase=2).logits[0]
            results.append({"logits": logits, "mask": logits[0].sigmoid() > self.threshold})
        return results
