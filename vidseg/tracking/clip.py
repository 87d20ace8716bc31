"""Clip tracker: links the query predictions of overlapping windows into video tracks (IFC-style clip matching,
paper 003 §3.3; ``docs/architecture.md``, "Tracking").

``update(start, WindowPredictions)`` adds one window: its kept queries are matched to the tracks alive in the
previous window by the ``soft_mask_iou`` cost term on the frames both cover, or by the ``embedding`` term when the
windows do not overlap; mask logits are averaged over the windows covering a frame, and a frame is encoded as soon
as ``finish_frames`` says no later window covers it, so tensor memory is bounded by one window. Finished frames
are held packed (``pack_rle``) until ``finalize`` builds the output.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vidseg.registry import TRACKER_REGISTRY
from vidseg.structures.masks import MaskPaster, PackedRLE, encode_mask, pack_rle, unpack_rle
from vidseg.structures.video_instances import VideoInstances

from .base import Tracker
from .costs import Side, assign, evaluate_terms

__all__ = ["ClipTrackAccumulator", "WindowPredictions", "topk_pairs"]


def topk_pairs(probs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k best (row, class) pairs of an (R, K) score table: (scores, labels, rows), each (min(k, R·K),)."""
    num_classes = probs.shape[1]
    scores, flat = probs.flatten().topk(min(k, probs.numel()), sorted=True)
    return scores, flat % num_classes, torch.div(flat, num_classes, rounding_mode="floor")


@dataclass(frozen=True)
class WindowPredictions:
    """One window's predictions: probs (N, K) class probabilities, masks (N, W, h, w) mask logits of the window's
    W frames, embeds (N, d) query embeddings."""

    probs: torch.Tensor
    masks: torch.Tensor
    embeds: torch.Tensor


@dataclass
class _Track:
    class_sum: torch.Tensor  # (K,) summed class probabilities
    embed: torch.Tensor  # (d,) latest query embedding
    windows: int = 0
    last_window: int = -1
    logit_sum: dict[int, torch.Tensor] = field(default_factory=dict)  # open frames only: (h, w)
    count: dict[int, int] = field(default_factory=dict)
    rles: dict[int, PackedRLE] = field(default_factory=dict)  # finished frames, packed until ``finalize``


@TRACKER_REGISTRY.register()
class ClipTrackAccumulator(Tracker):
    """Window-by-window tracker of query-based clip models (IFR clip mode, Mask2Former-VIS long videos)."""

    def __init__(
        self, *, length: int, match_threshold: float, keep_score: float, paster: MaskPaster, topk: int = 10,
        frame_idx: list[int] | None = None,
    ) -> None:
        """
        Args:
            length: frames of the video.
            match_threshold: a window query joins a track only if the similarity (soft IoU or cosine) exceeds this.
            keep_score: queries whose best class probability is below this are dropped.
            paster: turns averaged mask logits into output masks.
            topk: (track, class) pairs kept by ``finalize``; also the most queries a window keeps (the best by
                class probability), so at most ``topk`` masks per window are pasted and stored, as in whole-video
                inference.
            frame_idx: dataset frame indices of the video's frames (default 0…length−1).
        """
        self.length = length
        self.match_threshold = float(match_threshold)
        self.keep_score = float(keep_score)
        self.paster = paster
        self.topk = int(topk)
        self.frame_idx = list(range(length)) if frame_idx is None else [int(i) for i in frame_idx]
        self.reset()

    def reset(self) -> None:
        self.tracks: list[_Track] = []
        self.num_windows = 0
        self.finished_until = 0  # frames < this are encoded

    def similarity(self, tracks: list[_Track], start: int, masks: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
        """(len(tracks), Q) similarity: soft IoU on open frames the window shares, else embedding cosine."""
        shared = [f for f in range(start, start + masks.shape[1]) if any(f in tr.logit_sum for tr in tracks)]
        if not shared:
            side_t = Side(size=len(tracks), embeds=torch.stack([tr.embed for tr in tracks]))
            cost = evaluate_terms(["embedding"], side_t, Side(size=len(embeds), embeds=embeds))["embedding"]
            return torch.as_tensor(-cost)
        zeros = torch.zeros_like(masks[0, 0])
        p = torch.stack([
            torch.stack([(tr.logit_sum[f] / tr.count[f]).sigmoid() if f in tr.logit_sum else zeros for f in shared])
            for tr in tracks
        ])  # (n_tracks, F, h, w)
        q = masks[:, [f - start for f in shared]].sigmoid()
        cost = evaluate_terms(["soft_mask_iou"], Side(size=len(tracks), soft_masks=p),
                              Side(size=len(q), soft_masks=q))["soft_mask_iou"]
        return torch.as_tensor(-cost)

    def update(self, frame_idx: int, candidates: WindowPredictions) -> list[int]:
        """Add the window starting at position ``frame_idx``; returns per query its track id (0: dropped)."""
        start, probs, masks, embeds = frame_idx, candidates.probs, candidates.masks, candidates.embeds
        if start < self.finished_until:
            raise ValueError(
                f"ClipTrackAccumulator: window at frame {start} overlaps frames already finished (< {self.finished_until})"
            )
        best = probs.max(dim=1).values
        kept = [q for q in best.argsort(descending=True, stable=True)[: self.topk].tolist()
                if best[q] >= self.keep_score]
        candidates_t = [i for i, tr in enumerate(self.tracks) if tr.last_window == self.num_windows - 1]
        assigned: dict[int, int] = {}
        if kept and candidates_t:
            sim = self.similarity([self.tracks[i] for i in candidates_t], start, masks[kept], embeds[kept])
            for r, c in assign(-sim.double().cpu().numpy()):
                if sim[r, c] > self.match_threshold:
                    assigned[kept[c]] = candidates_t[r]
        ids = [0] * probs.shape[0]
        for q in kept:
            if q not in assigned:
                self.tracks.append(_Track(class_sum=torch.zeros_like(probs[q]), embed=embeds[q]))
                assigned[q] = len(self.tracks) - 1
            tr = self.tracks[assigned[q]]
            tr.class_sum = tr.class_sum + probs[q]
            tr.embed = embeds[q]
            tr.windows += 1
            tr.last_window = self.num_windows
            for w in range(masks.shape[1]):
                f = start + w
                tr.logit_sum[f] = tr.logit_sum[f] + masks[q, w] if f in tr.logit_sum else masks[q, w].clone()
                tr.count[f] = tr.count.get(f, 0) + 1
            ids[q] = assigned[q] + 1
        self.num_windows += 1
        return ids

    def finish_frames(self, until: int) -> None:
        """Encode every frame < ``until`` (no later window may cover it) and free its logits."""
        for f in range(self.finished_until, min(until, self.length)):
            owners = [tr for tr in self.tracks if f in tr.logit_sum]
            if owners:
                pasted = self.paster(torch.stack([tr.logit_sum.pop(f) / tr.count.pop(f) for tr in owners]))
                for tr, m in zip(owners, pasted):
                    tr.rles[f] = pack_rle(encode_mask(m))
        self.finished_until = max(self.finished_until, min(until, self.length))

    def finalize(self) -> VideoInstances:
        """Top-k (track, class) pairs by mean class probability; ``None`` on frames a track never covered."""
        self.finish_frames(self.length)
        out = VideoInstances(image_size=self.paster.out_size, frame_idx=self.frame_idx)
        if self.tracks:
            probs = torch.stack([tr.class_sum / tr.windows for tr in self.tracks])
            scores, labels, rows = topk_pairs(probs, self.topk)
            out = VideoInstances(
                image_size=self.paster.out_size,
                frame_idx=self.frame_idx,
                track_ids=list(range(1, len(rows) + 1)),
                scores=scores.tolist(),
                labels=labels.tolist(),
                masks=[[unpack_rle(self.tracks[r].rles[f]) if f in self.tracks[r].rles else None
                        for f in range(self.length)] for r in rows.tolist()],
            )
        self.reset()
        return out
