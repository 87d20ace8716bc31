"""InstMove as a motion prior (``MODEL.MOTION_PRIOR.NAME instmove``): hosts call it through vidseg's
``MotionPrior`` interface and never import this package (paper 000).

For every track with at least 2 past masks the frozen network predicts its mask at ``target_frame`` from its last
n masks, n from ``MODEL.INSTMOVE.INFER_WINDOWS`` (official schedule: 2 masks while fewer than 4 are known, then
4). Masks are padded to a centred square, resized to ``INPUT_SIZE`` and the logits mapped back to the host's mask
resolution (:mod:`.geometry`). The prior keeps at most ``max(INFER_WINDOWS)`` masks per track (memory flat in the
video length). The image path (paper Tab. 7) is not available through the mask-only prior interface: the prior
needs a model built with ``MODEL.INSTMOVE.IMAGE_ENCODER "none"``.
"""
from __future__ import annotations

import numpy as np
import torch
from detectron2.config import CfgNode

from vidseg.registry import MOTION_PRIOR_REGISTRY, register_as
from vidseg.tracking.motion import MotionPrior, TrackHistory

from .convert import load_instmove_weights
from .geometry import pad_masks, unpad_logits
from .model import InstMoveNet

__all__ = ["InstMovePrior", "window_length"]


def window_length(history_len: int, windows) -> int:
    """Masks to feed for a track with ``history_len`` known masks (0 = no prediction)."""
    n = 0
    for start, use in sorted(windows):
        if history_len >= start:
            n = use
    return n


@register_as(MOTION_PRIOR_REGISTRY, "instmove")
class InstMovePrior(MotionPrior):
    """Frozen InstMove network; ``predict`` batches all tracks with the same window length."""

    def __init__(self, cfg: CfgNode, net: InstMoveNet | None = None) -> None:
        super().__init__(cfg)
        im = cfg.MODEL.INSTMOVE
        self.windows = [tuple(int(v) for v in w) for w in im.INFER_WINDOWS]
        self.history = max(self.history, max(use for _, use in self.windows))
        self.threshold = float(im.MASK_THRESHOLD)
        self.device = torch.device(im.DEVICE or cfg.MODEL.DEVICE)
        if net is None:
            if im.IMAGE_ENCODER != "none":
                raise ValueError("MODEL.INSTMOVE.IMAGE_ENCODER: the motion prior predicts from masks only; set it "
                                 "to 'none' (and use weights trained that way)")
            net = InstMoveNet(cfg)
            if not im.WEIGHTS:
                raise ValueError("MODEL.INSTMOVE.WEIGHTS: the instmove motion prior needs a trained checkpoint "
                                 "(local path), got ''")
            load_instmove_weights(net, im.WEIGHTS)
        self.net = net.to(self.device).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.calls: list[int] = []  # window length of each network call (diagnostics / tests)

    @torch.no_grad()
    def predict(self, histories: list[TrackHistory], target_frame: int) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = [None] * len(histories)
        groups: dict[int, list[int]] = {}
        for i, h in enumerate(histories):
            n = window_length(len(h), self.windows)
            if n:
                groups.setdefault(n, []).append(i)
        for n, idx in groups.items():
            dense = np.stack([histories[i].dense()[-n:] for i in idx])  # (B, n, H, W)
            height, width = dense.shape[-2:]
            past = pad_masks(torch.from_numpy(dense).to(self.device), self.net.size)
            logits = self.net(past, phase=2).logits[:, 0]
            masks = unpad_logits(logits, height, width, self.threshold).cpu().numpy()
            self.calls.append(n)
            for j, i in enumerate(idx):
                out[i] = masks[j]
        return out
