"""A motion prior's predicted masks as an extra ISVOS decoder input (InstMove plug-in, paper 000 §3.4 / §4.6).

Any prior of ``MOTION_PRIOR_REGISTRY`` (``MODEL.MOTION_PRIOR.NAME``: copy_last, linear, instmove, ...) predicts
each object's mask at frame t from its past masks; ISVOS concatenates that map (resized to the 1/16 grid) to the
object's memory readout F_mem and applies one 3×3 conv (C_v + 1 → C_v) (InstMove spec §5.5: "the same recipe
at F_mem"). The conv starts as the identity on F_mem and zero on the motion channel, so a model trained without
motion is unchanged until the fusion is trained. With ``NAME none`` no fusion layer exists: the plain model.

In training the prior sees, per sample and object, the clip's frame-0 GT mask and the model's own (detached,
arg-max) predictions of the previous clip frames, indexed by their position in the clip.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vidseg.structures.masks import encode_mask
from vidseg.tracking.motion import MotionPrior, TrackHistory


class MotionFusion(nn.Module):
    """F_mem (B, K, C, h, w) and motion probabilities (B, K, H, W) or None (= zeros) -> fused F_mem."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim + 1, dim, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, :dim, 1, 1].copy_(torch.eye(dim))
            self.conv.bias.zero_()

    def forward(self, readout: torch.Tensor, motion: torch.Tensor | None) -> torch.Tensor:
        b, k, c, h, w = readout.shape
        x = readout.flatten(0, 1)
        if motion is None:
            m = x.new_zeros((b * k, 1, h, w))
        else:
            m = F.interpolate(motion.flatten(0, 1)[:, None].to(x.dtype), size=(h, w), mode="bilinear",
                              align_corners=False)
        return self.conv(torch.cat([x, m], 1)).view(b, k, c, h, w)


def predict_motion(prior: MotionPrior, histories: list[TrackHistory], frame: int, size: tuple[int, int],
                   device: torch.device) -> torch.Tensor:
    """The prior's masks for ``histories`` at ``frame`` as a (len, H, W) float tensor, zero-padded bottom/right to
    ``size``; objects without a prediction get zeros (InstMove spec §5.5: zeros when there is no motion)."""
    out = torch.zeros((len(histories), *size), device=device)
    for j, mask in enumerate(prior.predict(histories, frame)):
        if mask is not None:
            out[j, : mask.shape[0], : mask.shape[1]] = torch.from_numpy(np.ascontiguousarray(mask)).to(device)
    return out


def record(histories: list[TrackHistory], frame: int, masks: np.ndarray) -> None:
    """Append each object's (K, H, W) bool mask at ``frame``; empty masks are skipped (last *visible* masks)."""
    for h, m in zip(histories, masks):
        if m.any():
            h.append(frame, encode_mask(m))


class ClipMotion:
    """Per-sample, per-object mask histories of one training batch (see the module docstring)."""

    def __init__(self, prior: MotionPrior, first: torch.Tensor) -> None:
        """``first``: (B, K, H, W) frame-0 masks (0/1)."""
        self.prior = prior
        self.size = tuple(first.shape[-2:])
        self.histories = [[TrackHistory(prior.history) for _ in range(first.shape[1])] for _ in range(first.shape[0])]
        self.add(0, first > 0.5)

    def add(self, frame: int, masks: torch.Tensor) -> None:
        """(B, K, H, W) bool masks of clip frame ``frame``."""
        for hs, m in zip(self.histories, masks.detach().cpu().numpy()):
            record(hs, frame, m)

    def predict(self, frame: int, device: torch.device) -> torch.Tensor:
        """(B, K, H, W) predicted masks at clip frame ``frame``."""
        return torch.stack([predict_motion(self.prior, hs, frame, self.size, device) for hs in self.histories])
