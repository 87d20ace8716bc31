"""Frame-by-frame query tracker (MinVIS-style; paper 000 §3.4 and the official MinVIS plug-in): a query model decodes
every frame alone and the N queries of frame t are matched one-to-one to the N tracks by Hungarian assignment on

    cost = embed_weight · embedding + motion_weight · motion

where ``embedding`` = −cos(track's last matched embedding, query embedding) and ``motion`` =
−IoU(motion-prior prediction of the track, query mask) (``COST_TERM_REGISTRY`` terms). The official MinVIS
cost 1·(1 − cos) + 0.5·(1 − IoU) is, up to a constant, ``embed_weight 1, motion_weight 0.5``. Only the ``motion_topk`` tracks with the
highest foreground probability (max over classes of their mean class probabilities so far) get a prediction; the
others have a constant motion row, which leaves the assignment unchanged. Track histories hold the last
``prior.history`` binary masks at the model's mask resolution (mask logit > 0).

``finalize`` keeps the top-k (track, class) pairs by mean class probability (as the clip tracker does) and pastes
their masks. Tensor memory: one (N, h, w) mask-logit map per frame (on the CPU).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from vidseg.registry import TRACKER_REGISTRY
from vidseg.structures.masks import RLE, encode_mask
from vidseg.structures.video_instances import VideoInstances

from .base import Tracker
from .clip import topk_pairs
from .costs import Side, assign, combine, evaluate_terms
from .motion import MotionPrior, NoMotionPrior, TrackHistory

__all__ = ["FrameQueries", "QueryMatchingTracker"]


@dataclass(frozen=True)
class FrameQueries:
    """One frame's query predictions: probs (N, K) class probabilities, masks (N, h, w) mask logits, embeds (N, d)."""

    probs: torch.Tensor
    masks: torch.Tensor
    embeds: torch.Tensor


def _threshold_paster(logits: torch.Tensor) -> np.ndarray:
    return (logits > 0).cpu().numpy()


@TRACKER_REGISTRY.register()
class QueryMatchingTracker(Tracker):
    """Links per-frame queries into N permanent tracks (every query continues one track)."""

    def __init__(self, *, motion_prior: MotionPrior | None = None, embed_weight: float = 1.0,
                 motion_weight: float = 0.5, motion_topk: int = 20, topk: int = 10,
                 paster: Callable[[torch.Tensor], np.ndarray] | None = None,
                 out_size: tuple[int, int] | None = None) -> None:
        """
        Args:
            motion_prior: predicts each track's mask at the next frame (``none``: embedding cost only).
            embed_weight / motion_weight: weights of the ``embedding`` and ``motion`` cost terms.
            motion_topk: tracks (by foreground probability) that get a motion prediction.
            topk: (track, class) pairs in the output.
            paster: (k, h, w) logits -> (k, H, W) bool output masks (default: logit > 0 at h×w).
            out_size: (H, W) of the pasted masks (default: h×w).
        """
        self.prior = motion_prior if motion_prior is not None else NoMotionPrior()
        self.embed_weight, self.motion_weight = float(embed_weight), float(motion_weight)
        self.motion_topk, self.topk = int(motion_topk), int(topk)
        self.paster = paster or _threshold_paster
        self.out_size = out_size
        self.reset()

    def reset(self) -> None:
        self.frames: list[int] = []
        self.perm_masks: list[torch.Tensor] = []  # per frame (N, h, w) logits in track order
        self.class_sum: torch.Tensor | None = None
        self.embeds: torch.Tensor | None = None
        self.histories: list[TrackHistory] = []
        self.predicted_tracks: list[list[int]] = []  # per frame: the tracks that got a prediction (diagnostics)

    def _motion_candidates(self) -> list[int]:
        fg = (self.class_sum / len(self.frames)).max(dim=1).values
        order = torch.argsort(fg, descending=True, stable=True).tolist()
        return order[: self.motion_topk]

    def update(self, frame_idx: int, candidates: FrameQueries) -> list[int]:
        probs, masks, embeds = candidates.probs.float().cpu(), candidates.masks.float().cpu(), candidates.embeds.float()
        n = probs.shape[0]
        binary = [encode_mask(m) for m in (masks > 0).numpy()]
        if self.embeds is None:
            order = list(range(n))
            self.class_sum = torch.zeros_like(probs)
            self.histories = [TrackHistory(self.prior.history) for _ in range(n)]
            self.predicted_tracks.append([])
        else:
            if n != self.embeds.shape[0]:
                raise ValueError(f"QueryMatchingTracker: frame {frame_idx} has {n} queries, earlier frames "
                                 f"{self.embeds.shape[0]} (expected a fixed query count)")
            tracks = Side(size=n, embeds=self.embeds)
            cands = Side(size=n, embeds=embeds, masks=binary)
            names, weights = ["embedding"], {"embedding": self.embed_weight}
            chosen: list[int] = []
            if self.prior.active and self.motion_weight > 0:
                chosen = self._motion_candidates()
                preds = self.prior.predict([self.histories[k] for k in chosen], frame_idx)
                predicted: list[RLE | None] = [None] * n
                for k, p in zip(chosen, preds):
                    predicted[k] = encode_mask(p) if p is not None else None
                chosen = [k for k in chosen if predicted[k] is not None]
                tracks.predicted = predicted
                names.append("motion")
                weights["motion"] = self.motion_weight
            self.predicted_tracks.append(chosen)
            cost = combine(evaluate_terms(names, tracks, cands), weights)
            pairs = assign(cost)
            order = [0] * n  # order[track] = query
            for r, c in pairs:
                order[r] = c
        self.frames.append(int(frame_idx))
        self.perm_masks.append(masks[order])
        self.class_sum = self.class_sum + probs[order]
        self.embeds = embeds[order]
        for k, q in enumerate(order):
            self.histories[k].append(int(frame_idx), binary[q])
        ids = [0] * n
        for k, q in enumerate(order):
            ids[q] = k + 1
        return ids

    def finalize(self) -> VideoInstances:
        if not self.frames:
            raise ValueError("QueryMatchingTracker: finalize before any frame")
        size = self.out_size or tuple(int(s) for s in self.perm_masks[0].shape[-2:])
        scores, labels, rows = topk_pairs(self.class_sum / len(self.frames), self.topk)
        rows = rows.tolist()
        rles: list[list[RLE | None]] = [[] for _ in rows]
        for m in self.perm_masks:
            for i, pasted in enumerate(self.paster(m[rows])):
                rles[i].append(encode_mask(pasted))
        out = VideoInstances(image_size=size, frame_idx=list(self.frames), track_ids=list(range(1, len(rows) + 1)),
                             scores=scores.tolist(), labels=labels.tolist(), masks=rles)
        self.reset()
        return out
