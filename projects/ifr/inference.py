"""Post-processing of IFR / Mask2Former-VIS predictions into ``VideoInstances`` (ifr.md §5).

- Whole-video mode: top-k (query, class) pairs of the video's class probabilities; masks of the chosen queries are
  pasted frame by frame (upsampled to the padded input, cropped to the valid region, resized to the original
  size, logit > 0), so memory holds one frame of k masks at a time.
- Clip mode (long videos): sliding windows; :class:`ClipTrackAccumulator` links each window's queries to tracks
  (Hungarian on soft mask IoU over the frames shared with earlier windows, or on the cosine of query embeddings
  when windows do not overlap), averages mask logits over the windows covering a frame and encodes a frame as
  soon as no later window covers it. Tensor memory is bounded by one window, whatever the video length.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F

from vidseg.structures.video_instances import VideoInstances
from vidseg.structures.masks import RLE, MaskPaster, encode_mask


def class_probabilities(logits: torch.Tensor, class_loss: str) -> torch.Tensor:
    """(N, K') logits -> (N, K) real-class probabilities (softmax without no-object for ``ce``, sigmoid for focal)."""
    return logits.float().softmax(-1)[:, :-1] if class_loss == "ce" else logits.float().sigmoid()


def topk_pairs(probs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k best (row, class) pairs of an (R, K) score table: (scores, labels, rows), each (min(k, R·K),)."""
    num_classes = probs.shape[1]
    scores, flat = probs.flatten().topk(min(k, probs.numel()), sorted=True)
    return scores, flat % num_classes, torch.div(flat, num_classes, rounding_mode="floor")


def video_topk_instances(
    logits: torch.Tensor, masks: torch.Tensor, *, class_loss: str, topk: int, paster: MaskPaster, frame_idx: list[int]
) -> VideoInstances:
    """Whole-video output: logits (N, K'), masks (N, T, h, w) -> top-k ``VideoInstances`` (every frame encoded)."""
    scores, labels, queries = topk_pairs(class_probabilities(logits, class_loss), topk)
    rles: list[list[RLE | None]] = [[] for _ in range(len(queries))]
    for t in range(masks.shape[1]):
        for i, m in enumerate(paster(masks[queries, t])):
            rles[i].append(encode_mask(m))
    return VideoInstances(
        image_size=paster.out_size,
        frame_idx=frame_idx,
        track_ids=list(range(1, len(queries) + 1)),
        scores=scores.tolist(),
        labels=labels.tolist(),
        masks=rles,
    )


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start frames of the sliding windows; the last window ends at the video end (one window if length <= window)."""
    if window < 1 or stride < 1:
        raise ValueError(f"MODEL.IFR.TEST_WINDOW / TEST_STRIDE must be >= 1, got {window} / {stride}")
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


@dataclass
class _Track:
    class_sum: torch.Tensor  # (K,) summed class probabilities
    embed: torch.Tensor  # (d,) latest query embedding
    windows: int = 0
    last_window: int = -1
    logit_sum: dict[int, torch.Tensor] = field(default_factory=dict)  # open frames only: (h, w)
    count: dict[int, int] = field(default_factory=dict)
    rles: dict[int, RLE] = field(default_factory=dict)  # finished frames


class ClipTrackAccumulator:
    """Links per-window query predictions into video tracks (IFC-style clip matching, ifr.md §5.2)."""

    def __init__(self, *, length: int, match_threshold: float, keep_score: float, paster: MaskPaster) -> None:
        """
        Args:
            length: frames of the video.
            match_threshold: a window query joins a track only if the similarity exceeds this.
            keep_score: queries whose best class probability is below this are dropped.
            paster: turns averaged mask logits into output masks.
        """
        self.length = length
        self.match_threshold = float(match_threshold)
        self.keep_score = float(keep_score)
        self.paster = paster
        self.tracks: list[_Track] = []
        self.num_windows = 0
        self.finished_until = 0  # frames < this are encoded

    def similarity(self, tracks: list[_Track], start: int, masks: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
        """(len(tracks), Q) similarity: soft IoU on open frames the window shares, else embedding cosine."""
        shared = [f for f in range(start, start + masks.shape[1]) if any(f in tr.logit_sum for tr in tracks)]
        if not shared:
            track_embeds = F.normalize(torch.stack([tr.embed for tr in tracks]), dim=-1)
            return track_embeds @ F.normalize(embeds, dim=-1).T
        q = masks[:, [f - start for f in shared]].sigmoid().flatten(1)  # (Q, F·h·w)
        zeros = torch.zeros_like(masks[0, 0])
        p = torch.stack([
            torch.cat([(tr.logit_sum[f] / tr.count[f]).sigmoid().flatten() if f in tr.logit_sum else zeros.flatten()
                       for f in shared])
            for tr in tracks
        ])  # (n_tracks, F·h·w)
        inter = p @ q.T
        union = p.sum(1)[:, None] + q.sum(1)[None, :] - inter
        return inter / union.clamp(min=1e-6)

    def add_window(self, start: int, probs: torch.Tensor, masks: torch.Tensor, embeds: torch.Tensor) -> list[int]:
        """Add one window's predictions.

        Args:
            start: first frame of the window.
            probs: (N, K) class probabilities.
            masks: (N, W, h, w) mask logits of the window's frames.
            embeds: (N, d) query embeddings.

        Returns:
            The track index assigned to each kept query (in query order).
        """
        if start < self.finished_until:
            raise ValueError(
                f"ClipTrackAccumulator: window at frame {start} overlaps frames already finished (< {self.finished_until})"
            )
        kept = torch.nonzero(probs.max(dim=1).values >= self.keep_score).flatten().tolist()
        candidates = [i for i, tr in enumerate(self.tracks) if tr.last_window == self.num_windows - 1]
        assigned: dict[int, int] = {}
        if kept and candidates:
            sim = self.similarity([self.tracks[i] for i in candidates], start, masks[kept], embeds[kept])
            rows, cols = linear_sum_assignment(sim.cpu().numpy(), maximize=True)
            for r, c in zip(rows, cols):
                if sim[r, c] > self.match_threshold:
                    assigned[kept[c]] = candidates[r]
        out = []
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
            out.append(assigned[q])
        self.num_windows += 1
        return out

    def finish_frames(self, until: int) -> None:
        """Encode every frame < ``until`` (no later window may cover it) and free its logits."""
        for f in range(self.finished_until, min(until, self.length)):
            owners = [tr for tr in self.tracks if f in tr.logit_sum]
            if owners:
                pasted = self.paster(torch.stack([tr.logit_sum.pop(f) / tr.count.pop(f) for tr in owners]))
                for tr, m in zip(owners, pasted):
                    tr.rles[f] = encode_mask(m)
        self.finished_until = max(self.finished_until, min(until, self.length))

    def result(self, *, topk: int, frame_idx: list[int]) -> VideoInstances:
        """Top-k (track, class) pairs by mean class probability; ``None`` on frames a track never covered."""
        self.finish_frames(self.length)
        if not self.tracks:
            return VideoInstances(image_size=self.paster.out_size, frame_idx=frame_idx)
        probs = torch.stack([tr.class_sum / tr.windows for tr in self.tracks])
        scores, labels, rows = topk_pairs(probs, topk)
        masks = [[self.tracks[r].rles.get(f) for f in range(self.length)] for r in rows.tolist()]
        return VideoInstances(
            image_size=self.paster.out_size,
            frame_idx=frame_idx,
            track_ids=list(range(1, len(masks) + 1)),
            scores=scores.tolist(),
            labels=labels.tolist(),
            masks=masks,
        )
