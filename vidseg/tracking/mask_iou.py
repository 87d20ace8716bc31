"""Mask-IoU + Hungarian offline tracker (IoUTracker+ baseline; moving-object tracker of papers/001).

Algorithm (specs/moseg.md §5):

1. Per frame: a non-static detection scoring ``> score_init`` is *init-eligible*; a static detection whose mask IoU
   with any non-static detection scoring ``> score_continue`` is ``>= static_overlap_remove`` is removed; every
   detection scoring ``<= score_continue`` is dropped.
2. Forward pass, t = 0 … T−1: active tracks are those whose latest detection t' has ``t − t' <= frames_skip_max``.
   They are matched in tiers of increasing gap ``t − t'`` (most recently seen first): Hungarian assignment on the
   mask IoU between each track's latest mask and the still-unassigned detections of frame t; a pair links only if
   IoU ``> iou_min``. Unmatched init-eligible detections start new tracks; other unmatched ones are left.
3. Backward pass (``bidirectional``), t = T−1 … 0: active tracks have a detection after t, none at t, and start
   at t'' with ``t'' − t < frames_skip_max`` (one frame stricter than the forward pass, as in the official code).
   Each is compared through its nearest detection after t, tiered by that gap; no track starts here.
4. Tracks with fewer than ``min_track_length`` detections are dropped; the rest are numbered 1…K in creation order.
   Track score = mean detection score; label = class with the largest summed detection score (ties: smaller id).

Sub-threshold IoUs are zeroed before the assignment, so the Hungarian step maximises the total IoU of the links it
may accept (the official code thresholds after the assignment; the two agree except where a sub-threshold pair
would have displaced a valid one).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Sequence

import numpy as np
from detectron2.config import CfgNode, configurable
from scipy.optimize import linear_sum_assignment

from vidseg.registry import TRACKER_REGISTRY
from vidseg.structures.video_instances import VideoInstances

from .detections import FrameDetections
from vidseg.structures.masks import iou_matrix, to_json_rle

__all__ = ["MaskIoUTracker"]

Track = dict[int, int]  # frame index t -> index of the detection in frame t


@TRACKER_REGISTRY.register()
class MaskIoUTracker:
    """Offline mask-IoU tracker: ``tracker(frames: list[FrameDetections]) -> VideoInstances``."""

    @configurable
    def __init__(
        self,
        *,
        score_init: float = 0.9,
        score_continue: float = 0.7,
        iou_min: float = 0.1,
        frames_skip_max: int = 10,
        bidirectional: bool = True,
        static_overlap_remove: float = 0.1,
        min_track_length: int = 1,
    ) -> None:
        """
        Args:
            score_init: a non-static detection must score strictly above this to start a track.
            score_continue: detections scoring at or below this are discarded before linking.
            iou_min: a detection links to a track only if their mask IoU is strictly above this.
            frames_skip_max: t_inactive, the largest frame gap a track may bridge in the forward pass.
            bidirectional: run the backward pass after the forward pass.
            static_overlap_remove: drop a static detection whose IoU with a kept moving detection is >= this.
            min_track_length: drop tracks holding fewer detections.
        """
        if frames_skip_max < 1:
            raise ValueError(f"MaskIoUTracker: frames_skip_max must be >= 1, got {frames_skip_max}")
        self.score_init = float(score_init)
        self.score_continue = float(score_continue)
        self.iou_min = float(iou_min)
        self.frames_skip_max = int(frames_skip_max)
        self.bidirectional = bool(bidirectional)
        self.static_overlap_remove = float(static_overlap_remove)
        self.min_track_length = int(min_track_length)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        t = cfg.MODEL.TRACKER
        return {
            "score_init": t.SCORE_INIT,
            "score_continue": t.SCORE_CONTINUE,
            "iou_min": t.IOU_MIN,
            "frames_skip_max": t.FRAMES_SKIP_MAX,
            "bidirectional": t.BIDIRECTIONAL,
            "static_overlap_remove": t.STATIC_OVERLAP_REMOVE,
            "min_track_length": t.MIN_TRACK_LENGTH,
        }

    # ------------------------------------------------------------------ step 1
    def candidates(self, det: FrameDetections) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the detections of one frame that take part in linking, sorted by descending score, and
        their init-eligibility flags (both shape (M,))."""
        scores, static = det.scores, det.is_static
        keep = scores > self.score_continue
        moving = np.flatnonzero(~static & keep)
        statics = np.flatnonzero(static & keep)
        if len(moving) and len(statics):
            iou = iou_matrix([det.rles[i] for i in statics], [det.rles[i] for i in moving])
            keep[statics[(iou >= self.static_overlap_remove).any(axis=1)]] = False
        idx = np.flatnonzero(keep)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        return idx, ~static[idx] & (scores[idx] > self.score_init)

    # ------------------------------------------------------------------ linking
    def _link(
        self,
        frames: Sequence[FrameDetections],
        t: int,
        cands: list[int],
        tiers: dict[int, list[tuple[int, int]]],
        tracks: list[Track],
    ) -> list[int]:
        """Match detections ``cands`` of frame ``t`` to tracks, tier by tier (``tiers[gap]`` = list of
        (track index, reference frame)); linked detections are added to their tracks. Returns the unmatched."""
        for gap in sorted(tiers):
            if not cands:
                break
            group = tiers[gap]
            refs = [frames[f].rles[tracks[k][f]] for k, f in group]
            iou = iou_matrix(refs, [frames[t].rles[i] for i in cands])
            iou[iou <= self.iou_min] = 0.0
            rows, cols = linear_sum_assignment(-iou)
            taken = set()
            for r, c in zip(rows, cols):
                if iou[r, c] > self.iou_min:
                    tracks[group[r][0]][t] = cands[c]
                    taken.add(c)
            cands = [d for j, d in enumerate(cands) if j not in taken]
        return cands

    def _tiers(self, tracks: list[Track], ref_and_gap: Callable[[Track], tuple[int, int] | None]) -> dict:
        tiers: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for k, tr in enumerate(tracks):
            rg = ref_and_gap(tr)
            if rg is not None:
                tiers[rg[1]].append((k, rg[0]))
        return tiers

    def link(self, frames: Sequence[FrameDetections]) -> list[Track]:
        """Run steps 1–3; returns the tracks (creation order) as {frame: detection index} dicts."""
        skip = self.frames_skip_max
        cand = [self.candidates(f) for f in frames]
        assigned: list[set[int]] = [set() for _ in frames]
        tracks: list[Track] = []
        for t in range(len(frames)):

            def forward_ref(tr: Track, t: int = t) -> tuple[int, int] | None:
                last = max(tr)
                return (last, t - last) if t - last <= skip else None

            idx, init = cand[t]
            left = self._link(frames, t, [int(i) for i in idx], self._tiers(tracks, forward_ref), tracks)
            eligible = {int(i) for i, ok in zip(idx, init) if ok}
            for i in left:
                if i in eligible:
                    tracks.append({t: i})
            assigned[t] = {tr[t] for tr in tracks if t in tr}
        if not self.bidirectional:
            return tracks
        for t in reversed(range(len(frames))):

            def backward_ref(tr: Track, t: int = t) -> tuple[int, int] | None:
                if t in tr or min(tr) - t >= skip:
                    return None
                later = [f for f in tr if f > t]
                return (min(later), min(later) - t) if later else None

            cands = [int(i) for i in cand[t][0] if int(i) not in assigned[t]]
            if cands:
                self._link(frames, t, cands, self._tiers(tracks, backward_ref), tracks)
        return tracks

    # ------------------------------------------------------------------ output
    def __call__(self, frames: Sequence[FrameDetections], *, frame_idx: Sequence[int] | None = None) -> VideoInstances:
        """Track the detections of T frames.

        Args:
            frames: T ``FrameDetections`` of one video, all of the same (H, W).
            frame_idx: T indices into the dataset record's frames (default 0…T−1).
        Returns:
            ``VideoInstances`` with N tracks × T frames of masks at (H, W).
        """
        if len(frames) == 0:
            raise ValueError("MaskIoUTracker: got 0 frames; expected at least one FrameDetections")
        sizes = {f.image_size for f in frames}
        if len(sizes) != 1:
            raise ValueError(f"MaskIoUTracker: frames have different image sizes {sorted(sizes)}")
        frame_idx = list(range(len(frames))) if frame_idx is None else list(frame_idx)
        if len(frame_idx) != len(frames):
            raise ValueError(f"MaskIoUTracker: frame_idx has {len(frame_idx)} entries for {len(frames)} frames")
        tracks = [tr for tr in self.link(frames) if len(tr) >= self.min_track_length]
        scores, labels, masks = [], [], []
        for tr in tracks:
            det_scores = [float(frames[t].scores[i]) for t, i in tr.items()]
            scores.append(float(np.mean(det_scores)))
            votes: dict[int, float] = defaultdict(float)
            for (t, i), s in zip(tr.items(), det_scores):
                votes[int(frames[t].labels[i])] += s
            labels.append(max(sorted(votes), key=lambda c: votes[c]))
            masks.append([to_json_rle(frames[t].rles[tr[t]]) if t in tr else None for t in range(len(frames))])
        return VideoInstances(
            image_size=sizes.pop(),
            frame_idx=frame_idx,
            track_ids=list(range(1, len(tracks) + 1)),
            scores=scores,
            labels=labels,
            masks=masks,
        )
