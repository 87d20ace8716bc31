"""Motion priors: a track's past masks -> its predicted mask at a later frame (``MOTION_PRIOR_REGISTRY``).

Shipped priors (the baselines of paper 000, Table 4): ``none`` (no prediction: trackers add no motion term),
``copy_last`` (the previous mask) and ``linear`` (the previous mask shifted by the last centroid velocity).
Learned priors (e.g. InstMove, paper 000 §3) register themselves from their project package. Trackers keep at most
``prior.history`` past masks per track, so memory is flat in the video length.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from detectron2.config import CfgNode

from vidseg.registry import MOTION_PRIOR_REGISTRY, register_as
from vidseg.structures.masks import RLE, decode_mask

__all__ = ["TrackHistory", "MotionPrior", "build_motion_prior", "shift_mask"]


@dataclass
class TrackHistory:
    """The last ``maxlen`` observed masks of one track, oldest first, with their frame indices."""

    maxlen: int
    frames: deque = field(init=False)
    masks: deque = field(init=False)

    def __post_init__(self) -> None:
        if self.maxlen < 1:
            raise ValueError(f"TrackHistory: maxlen must be >= 1, got {self.maxlen}")
        self.frames = deque(maxlen=self.maxlen)
        self.masks = deque(maxlen=self.maxlen)

    def append(self, frame: int, mask: RLE) -> None:
        if self.frames and frame <= self.frames[-1]:
            raise ValueError(f"TrackHistory: frame {frame} is not after the last one ({self.frames[-1]})")
        self.frames.append(int(frame))
        self.masks.append(mask)

    def __len__(self) -> int:
        return len(self.frames)

    def dense(self) -> np.ndarray:
        """(len, H, W) bool masks, oldest first."""
        return np.stack([decode_mask(m).astype(bool) for m in self.masks])


class MotionPrior(ABC):
    """Base class: ``predict(histories, target_frame) -> list[H×W bool | None]``."""

    history: int = 1

    def __init__(self, cfg: CfgNode | None = None) -> None:
        if cfg is not None:
            self.history = max(int(cfg.MODEL.MOTION_PRIOR.HISTORY), type(self).history)

    @property
    def active(self) -> bool:
        """False for ``none``: trackers then skip the motion term entirely."""
        return True

    @abstractmethod
    def predict(self, histories: list[TrackHistory], target_frame: int) -> list[np.ndarray | None]:
        """Each track's predicted H×W bool mask at ``target_frame`` (after its last frame), or ``None``."""


@register_as(MOTION_PRIOR_REGISTRY, "none")
class NoMotionPrior(MotionPrior):
    @property
    def active(self) -> bool:
        return False

    def predict(self, histories: list[TrackHistory], target_frame: int) -> list[np.ndarray | None]:
        return [None] * len(histories)


@register_as(MOTION_PRIOR_REGISTRY, "copy_last")
class CopyLastPrior(MotionPrior):
    """The object is where it was last seen."""

    def predict(self, histories: list[TrackHistory], target_frame: int) -> list[np.ndarray | None]:
        return [decode_mask(h.masks[-1]).astype(bool) if len(h) else None for h in histories]


def _centroid(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean(), xs.mean()]) if len(ys) else None


def shift_mask(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate an H×W mask by (dy, dx) pixels; what leaves the frame is lost (no wrap-around)."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[max(-dy, 0) : h - max(dy, 0),
                                                                         max(-dx, 0) : w - max(dx, 0)]
    return out


@register_as(MOTION_PRIOR_REGISTRY, "linear")
class LinearPrior(MotionPrior):
    """Constant velocity: the last mask shifted by (last centroid velocity per frame) × (frames ahead).

    With one past mask (or an empty one) it falls back to the last mask."""

    history = 2

    def predict(self, histories: list[TrackHistory], target_frame: int) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for h in histories:
            if not len(h):
                out.append(None)
                continue
            last = decode_mask(h.masks[-1]).astype(bool)
            if len(h) < 2:
                out.append(last)
                continue
            c1, c0 = _centroid(last), _centroid(decode_mask(h.masks[-2]).astype(bool))
            if c1 is None or c0 is None:
                out.append(last)
                continue
            v = (c1 - c0) / (h.frames[-1] - h.frames[-2])
            dy, dx = np.rint(v * (target_frame - h.frames[-1])).astype(int)
            out.append(shift_mask(last, int(dy), int(dx)))
        return out


def build_motion_prior(cfg: CfgNode) -> MotionPrior:
    """The prior named by ``MODEL.MOTION_PRIOR.NAME``."""
    name = cfg.MODEL.MOTION_PRIOR.NAME
    if name not in MOTION_PRIOR_REGISTRY:
        known = sorted(k for k, _ in MOTION_PRIOR_REGISTRY)
        raise ValueError(f"MODEL.MOTION_PRIOR.NAME: {name!r} is not a registered motion prior; expected one of {known}")
    return MOTION_PRIOR_REGISTRY.get(name)(cfg)
