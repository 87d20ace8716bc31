"""Post-processing of IFR / Mask2Former-VIS predictions into ``VideoInstances`` (paper 003 §3.3; ``docs/architecture.md``).

- Whole-video mode: top-k (query, class) pairs of the video's class probabilities; masks of the chosen queries are
  pasted frame by frame (upsampled to the padded input, cropped to the valid region, resized to the original
  size, logit > 0), so memory holds one frame of k masks at a time.
- Clip mode (long videos): sliding windows linked by :class:`vidseg.tracking.ClipTrackAccumulator` (Hungarian on
  soft mask IoU over the frames shared with earlier windows, or on query-embedding cosine when windows do not
  overlap). Tensor memory is bounded by one window, whatever the video length.
"""
from __future__ import annotations

import torch

from vidseg.modeling.matching import class_probabilities
from vidseg.structures.masks import RLE, MaskPaster, encode_mask
from vidseg.structures.video_instances import VideoInstances
from vidseg.tracking.clip import topk_pairs


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
