"""Clip tracker with a motion prior (paper 000 §3.4 / InstMove README, mode (a) for clip-level hosts such as IFR clip
mode): when a window starting at frame s arrives, the prior predicts each live track's mask at s from the track's
last finished masks, and the ``motion`` cost term (``COST_TERM_REGISTRY``: −IoU(prediction, candidate)) against
each kept query's mask on the window's first frame is added to the clip matching, i.e.

    similarity = (soft IoU on shared frames, or embedding cosine) + motion_weight · IoU(predicted, query mask at s)

The match threshold applies to this similarity. A track without prediction (too short a history, prior ``none``)
gets no motion term, so with ``motion_weight 0`` or prior ``none`` the links are exactly those of
:class:`~vidseg.tracking.clip.ClipTrackAccumulator`. Histories hold the last ``prior.history`` finished frames of a
track, binarised (averaged logit > 0) at the model's mask resolution, so memory stays flat in the video length.
"""
from __future__ import annotations

import torch

from vidseg.registry import TRACKER_REGISTRY
from vidseg.structures.masks import RLE, encode_mask

from .clip import ClipTrackAccumulator
from .costs import Side, evaluate_terms
from .motion import MotionPrior, NoMotionPrior, TrackHistory

__all__ = ["MotionClipTrackAccumulator"]


@TRACKER_REGISTRY.register()
class MotionClipTrackAccumulator(ClipTrackAccumulator):
    """``ClipTrackAccumulator`` whose window matching adds ``motion_weight`` × the prior's mask IoU."""

    def __init__(self, *, motion_prior: MotionPrior | None = None, motion_weight: float = 0.5, **kwargs) -> None:
        """
        Args:
            motion_prior: predicts a track's mask at a window's first frame (``none``: plain clip matching).
            motion_weight: weight of the motion similarity (the official MinVIS plug-in uses 0.5).
            kwargs: the ``ClipTrackAccumulator`` arguments.
        """
        self.prior = motion_prior if motion_prior is not None else NoMotionPrior()
        self.motion_weight = float(motion_weight)
        self.histories: dict[int, TrackHistory] = {}
        super().__init__(**kwargs)

    def reset(self) -> None:
        super().reset()
        self.histories = {}
        self.predicted_tracks: list[list[int]] = []  # per window: indices of the tracks with a prediction

    def similarity(self, tracks, start: int, masks: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
        sim = super().similarity(tracks, start, masks, embeds)
        if not (self.prior.active and self.motion_weight):
            return sim
        hist = [self.histories.get(id(tr)) for tr in tracks]
        rows = [i for i, h in enumerate(hist) if h is not None and len(h)]
        preds = self.prior.predict([hist[i] for i in rows], start) if rows else []
        predicted: list[RLE | None] = [None] * len(tracks)
        for i, p in zip(rows, preds):
            predicted[i] = encode_mask(p) if p is not None else None
        self.predicted_tracks.append([i for i, p in enumerate(predicted) if p is not None])
        if not any(p is not None for p in predicted):
            return sim
        cands = Side(size=masks.shape[0], masks=[encode_mask(m) for m in (masks[:, 0] > 0).cpu().numpy()])
        motion = evaluate_terms(["motion"], Side(size=len(tracks), predicted=predicted), cands)["motion"]
        return sim - self.motion_weight * torch.as_tensor(motion, dtype=sim.dtype)

    def finish_frames(self, until: int) -> None:
        """Record each finishing frame's averaged mask (logit > 0) in its track's history, then encode it."""
        for f in range(self.finished_until, min(until, self.length)):
            for tr in self.tracks:
                if f in tr.logit_sum:
                    h = self.histories.setdefault(id(tr), TrackHistory(self.prior.history))
                    h.append(f, encode_mask((tr.logit_sum[f] / tr.count[f] > 0).cpu().numpy()))
        super().finish_frames(until)
