"""The tracker interface every vidseg tracker implements (``docs/architecture.md``, "Tracking").

A tracker is fed one frame at a time, ``update(frame_idx, candidates) -> ids``, and closed with
``finalize() -> VideoInstances``. ``candidates`` is whatever the tracker links (``FrameDetections`` for mask
trackers, one window's query predictions for clip trackers). ``ids`` gives, per candidate, the id of the track it
joined or started (0: left out); ids are stable for the life of a track, but ``finalize`` may drop tracks (e.g.
too short) and renumbers the survivors 1…K in creation order. Offline trackers may revise links in ``finalize``
(e.g. a backward pass). ``tracker(frames, frame_idx=None)`` runs a whole video.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

from vidseg.structures.video_instances import VideoInstances

__all__ = ["Tracker"]


class Tracker(ABC):
    @abstractmethod
    def reset(self) -> None:
        """Forget every track (start a new video)."""

    @abstractmethod
    def update(self, frame_idx: int, candidates: Any) -> list[int]:
        """Link the candidates of the next frame; returns one track id per candidate (0 = none)."""

    @abstractmethod
    def finalize(self) -> VideoInstances:
        """The video's tracks; the tracker is reset afterwards."""

    def __call__(self, frames: Sequence[Any], *, frame_idx: Sequence[int] | None = None) -> VideoInstances:
        """Track a whole video: ``update`` on each frame in order, then ``finalize``."""
        if len(frames) == 0:
            raise ValueError(f"{type(self).__name__}: got 0 frames; expected at least one")
        frame_idx = list(range(len(frames))) if frame_idx is None else [int(i) for i in frame_idx]
        if len(frame_idx) != len(frames):
            raise ValueError(f"{type(self).__name__}: frame_idx has {len(frame_idx)} entries for {len(frames)} frames")
        self.reset()
        for t, cands in zip(frame_idx, frames):
            self.update(t, cands)
        return self.finalize()
