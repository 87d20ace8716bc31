"""Mask-IoU + Hungarian offline tracker (IoUTracker+ baseline; moving-object tracker of paper 001).

Algorithm (paper 001):

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

Sub-threshold pairs are made inadmissible before the assignment, so the Hungarian step maximises the total IoU of
the links it may accept (the official code thresholds after the assignment; the two agree except where a
sub-threshold pair would have displaced a valid one).

Motion prior (``MODEL.MOTION_PRIOR``, off by default): in the forward pass each track's prior prediction at frame t
(from its last ``prior.history`` masks) adds the cost term ``−λ·IoU(predicted, candidate)`` to
``−IoU(last mask, candidate)`` (the issue's ``λ·(1 − IoU)`` up to a constant), and a pair is admissible if either IoU exceeds ``iou_min``. The backward pass
uses mask IoU alone. With the prior ``none`` the links are exactly those above.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np
from detectron2.config import CfgNode, configurable

from vidseg.registry import TRACKER_REGISTRY
from vidseg.structures.masks import encode_mask, iou_matrix, to_json_rle
from vidseg.structures.video_instances import VideoInstances

from .base import Tracker
from .costs import Side, assign, combine, evaluate_terms
from .detections import FrameDetections
from .motion import MotionPrior, NoMotionPrior, TrackHistory, build_motion_prior

__all__ = ["MaskIoUTracker"]

Track = dict[int, int]  # frame position t -> index of the detection in frame t


@TRACKER_REGISTRY.register()
class MaskIoUTracker(Tracker):
    """Mask-IoU tracker: ``update(frame_idx, FrameDetections)`` per frame, ``finalize() -> VideoInstances``."""

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
        motion_prior: MotionPrior | None = None,
        motion_weight: float = 1.0,
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
            motion_prior: predicts each track's mask at the next frame (default: none).
            motion_weight: λ of the motion term.
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
        self.motion_prior = motion_prior if motion_prior is not None else NoMotionPrior()
        self.motion_weight = float(motion_weight)
        self.reset()

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
            "motion_prior": build_motion_prior(cfg),
            "motion_weight": cfg.MODEL.MOTION_PRIOR.WEIGHT,
        }

    def reset(self) -> None:
        self._frames: list[FrameDetections] = []
        self._frame_idx: list[int] = []
        self._cand: list[tuple[np.ndarray, np.ndarray]] = []
        self._assigned: list[set[int]] = []
        self._tracks: list[Track] = []
        self._histories: list[TrackHistory] = []

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
    def _link(self, t: int, cands: list[int], tiers: dict[int, list[tuple[int, int]]], *, motion: bool) -> list[int]:
        """Match detections ``cands`` of frame ``t`` to tracks, tier by tier (``tiers[gap]`` = list of
        (track index, reference frame)); linked detections are added to their tracks. Returns the unmatched."""
        frames, tracks = self._frames, self._tracks
        use_motion = motion and self.motion_prior.active and self.motion_weight > 0
        for gap in sorted(tiers):
            if not cands:
                break
            group = tiers[gap]
            side_t = Side(size=len(group), masks=[frames[f].rles[tracks[k][f]] for k, f in group])
            side_c = Side(size=len(cands), masks=[frames[t].rles[i] for i in cands])
            names = ["mask_iou"]
            if use_motion:
                pred = self.motion_prior.predict([self._histories[k] for k, _ in group], t)
                side_t.predicted = [None if p is None else encode_mask(p) for p in pred]
                names.append("motion")
            terms = evaluate_terms(names, side_t, side_c)
            # the terms are −IoU: a pair is admissible if an IoU exceeds iou_min (an IoU equal to it is rejected)
            admissible = -terms["mask_iou"] > self.iou_min
            if use_motion:
                has_pred = np.array([p is not None for p in side_t.predicted])[:, None]
                admissible |= has_pred & (-terms["motion"] > self.iou_min)
            weights = {"mask_iou": 1.0, "motion": self.motion_weight if use_motion else 0.0}
            # an inadmissible pair costs what zero overlap costs: the solve maximises the IoU it may accept
            taken = set()
            for r, c in assign(combine(terms, weights), admissible, inadmissible_cost=0.0):
                self._add(group[r][0], t, cands[c])
                taken.add(c)
            cands = [d for j, d in enumerate(cands) if j not in taken]
        return cands

    def _add(self, k: int, t: int, det: int) -> None:
        self._tracks[k][t] = det
        if t > max(self._histories[k].frames, default=-1):  # forward pass: history stays in frame order
            self._histories[k].append(t, self._frames[t].rles[det])

    def _tiers(self, ref_and_gap: Callable[[Track], tuple[int, int] | None]) -> dict:
        tiers: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for k, tr in enumerate(self._tracks):
            rg = ref_and_gap(tr)
            if rg is not None:
                tiers[rg[1]].append((k, rg[0]))
        return tiers

    def update(self, frame_idx: int, candidates: FrameDetections) -> list[int]:
        """Forward pass over one more frame; returns per detection the (provisional) track id, 0 if unlinked."""
        if self._frames and candidates.image_size != self._frames[0].image_size:
            raise ValueError(f"MaskIoUTracker: frames have different image sizes: frame {frame_idx} is {candidates.image_size}, earlier "
                             f"frames {self._frames[0].image_size}")
        t, skip = len(self._frames), self.frames_skip_max
        self._frames.append(candidates)
        self._frame_idx.append(int(frame_idx))
        self._cand.append(self.candidates(candidates))

        def forward_ref(tr: Track) -> tuple[int, int] | None:
            last = max(tr)
            return (last, t - last) if t - last <= skip else None

        idx, init = self._cand[t]
        left = self._link(t, [int(i) for i in idx], self._tiers(forward_ref), motion=True)
        eligible = {int(i) for i, ok in zip(idx, init) if ok}
        for i in left:
            if i in eligible:
                self._tracks.append({})
                self._histories.append(TrackHistory(self.motion_prior.history))
                self._add(len(self._tracks) - 1, t, i)
        ids = [0] * len(candidates)
        for k, tr in enumerate(self._tracks):
            if t in tr:
                ids[tr[t]] = k + 1
        self._assigned.append({tr[t] for tr in self._tracks if t in tr})
        return ids

    def backward(self) -> None:
        """Step 3: link detections left unassigned to tracks that start after them."""
        skip = self.frames_skip_max
        for t in reversed(range(len(self._frames))):

            def backward_ref(tr: Track, t: int = t) -> tuple[int, int] | None:
                if t in tr or min(tr) - t >= skip:
                    return None
                later = [f for f in tr if f > t]
                return (min(later), min(later) - t) if later else None

            cands = [int(i) for i in self._cand[t][0] if int(i) not in self._assigned[t]]
            if cands:
                self._link(t, cands, self._tiers(backward_ref), motion=False)

    # ------------------------------------------------------------------ output
    def finalize(self) -> VideoInstances:
        """Backward pass (if enabled), step 4, and the ``VideoInstances`` of the video; then reset."""
        if not self._frames:
            raise ValueError("MaskIoUTracker: got 0 frames; expected at least one FrameDetections")
        if self.bidirectional:
            self.backward()
        frames = self._frames
        tracks = [tr for tr in self._tracks if len(tr) >= self.min_track_length]
        scores, labels, masks = [], [], []
        for tr in tracks:
            det_scores = [float(frames[t].scores[i]) for t, i in tr.items()]
            scores.append(float(np.mean(det_scores)))
            votes: dict[int, float] = defaultdict(float)
            for (t, i), s in zip(tr.items(), det_scores):
                votes[int(frames[t].labels[i])] += s
            labels.append(max(sorted(votes), key=lambda c: votes[c]))
            masks.append([to_json_rle(frames[t].rles[tr[t]]) if t in tr else None for t in range(len(frames))])
        out = VideoInstances(
            image_size=frames[0].image_size,
            frame_idx=self._frame_idx,
            track_ids=list(range(1, len(tracks) + 1)),
            scores=scores,
            labels=labels,
            masks=masks,
        )
        self.reset()
        return out
