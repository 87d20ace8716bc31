"""InstMove as a motion prior (``MODEL.MOTION_PRIOR.NAME instmove``): hosts call it through vidseg's
``MotionPrior`` interface and never import this package (paper 000).

For every track with at least 2 past masks the frozen network predicts its mask at ``target_frame`` from its last
n masks, n from ``MODEL.INSTMOVE.INFER_WINDOWS`` (official schedule: 2 masks while fewer than 4 are known, then
4). Masks are padded to a centred square, resized to ``INPUT_SIZE`` and the logits mapped back to the host's mask
resolution (:mod:`.geometry`). The prior keeps at most ``max(INFER_WINDOWS)`` masks per track (memory flat in the
video length).

Gaps (``MODEL.INSTMOVE.GAPS``): a host tracker may skip frames where a track was not matched (the buffer of spec
§5.3 holds the last *visible* masks) and may ask for a frame more than one step after the last mask. With
``"ignore"`` (default: the literal reading of spec §5.3) the window is fed as is and the network's one-step
prediction is used whatever the gap. With ``"roll"`` (project option) the window is made consecutive first: every
missing frame inside it and up to ``target_frame − 1`` is filled by the network's own prediction from the masks
before it (autoregressive roll-forward, at most ``MAX_ROLL`` steps per track, older masks dropped where fewer than 2
precede a gap), so the prediction is for the frame asked, as the ``linear`` prior scales its shift by the gap. In
the host benchmark (``benchmarks/RESULTS.md``) ``roll`` was not better than ``ignore`` and costs twice the time.
The image path (paper Tab. 7) is not available through the mask-only prior interface: the prior
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
        if im.GAPS not in ("roll", "ignore"):
            raise ValueError(f"MODEL.INSTMOVE.GAPS: expected 'roll' or 'ignore', got {im.GAPS!r}")
        self.gaps, self.max_roll = im.GAPS, int(im.MAX_ROLL)
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

    def _step(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """One-step predictions (H×W bool) for windows (n_i, H, W) of consecutive masks, batched by length."""
        out: list[np.ndarray | None] = [None] * len(windows)
        groups: dict[tuple, list[int]] = {}
        for i, w in enumerate(windows):
            groups.setdefault(w.shape, []).append(i)
        for shape, idx in groups.items():
            dense = np.stack([windows[i] for i in idx])  # (B, n, H, W)
            past = pad_masks(torch.from_numpy(dense).to(self.device), self.net.size)
            logits = self.net(past, phase=2).logits[:, 0]
            masks = unpad_logits(logits, shape[-2], shape[-1], self.threshold).cpu().numpy()
            self.calls.append(shape[0])
            for j, i in enumerate(idx):
                out[i] = masks[j]
        return out

    def _roll(self, histories: list[TrackHistory], target_frame: int) -> list[np.ndarray | None]:
        """Make every window consecutive up to ``target_frame − 1`` by filling missing frames with the network's
        predictions (batched over tracks, one frame per round), then predict ``target_frame``."""
        tracks = []
        for h in histories:
            todo = list(zip(h.frames, h.dense())) if len(h) else []
            tracks.append({"todo": todo, "seq": [], "last": None, "steps": 0, "done": not todo})
        out: list[np.ndarray | None] = [None] * len(histories)
        keep = max(self.history, max(use for _, use in self.windows))
        while True:
            ask, who = [], []
            for i, tr in enumerate(tracks):
                if tr["done"]:
                    continue
                while tr["todo"]:  # take observed masks in order while they continue the sequence
                    f, m = tr["todo"][0]
                    if tr["last"] is not None and f > tr["last"] + 1 and self._can_fill(tr):
                        break  # a gap before f: fill frame last + 1 first
                    tr["todo"].pop(0)
                    tr["seq"] = (tr["seq"] if tr["last"] is not None and f == tr["last"] + 1 else []) + [m]
                    tr["last"] = int(f)
                if tr["todo"] or tr["last"] + 1 < target_frame:
                    if not self._can_fill(tr):  # gap before the target that cannot be filled: no prediction
                        tr["done"] = True
                        continue
                    kind = "fill"
                else:
                    kind = "target"
                    tr["done"] = True
                    if not window_length(len(tr["seq"]), self.windows):
                        continue
                ask.append(np.stack(tr["seq"][-window_length(len(tr["seq"]), self.windows):])), who.append((i, kind))
            if not ask:
                return out
            for (i, kind), m in zip(who, self._step(ask)):
                tr = tracks[i]
                if kind == "target":
                    out[i] = m
                else:
                    tr["seq"] = tr["seq"][-keep + 1:] + [m]
                    tr["last"] += 1
                    tr["steps"] += 1

    def _can_fill(self, tr: dict) -> bool:
        return window_length(len(tr["seq"]), self.windows) > 0 and tr["steps"] < self.max_roll

    @torch.no_grad()
    def predict(self, histories: list[TrackHistory], target_frame: int) -> list[np.ndarray | None]:
        if self.gaps == "roll":
            return self._roll(histories, target_frame)
        out: list[np.ndarray | None] = [None] * len(histories)
        lengths = [window_length(len(h), self.windows) for h in histories]
        idx = [i for i, n in enumerate(lengths) if n]
        for i, m in zip(idx, self._step([histories[i].dense()[-lengths[i]:] for i in idx])):
            out[i] = m
        return out
