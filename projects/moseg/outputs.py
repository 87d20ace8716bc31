"""Per-frame detector outputs -> tracker inputs, and the DAVIS-2016 fg/bg output (paper 001)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from detectron2.structures import Instances

from vidseg.structures import VideoInstances
from vidseg.structures.masks import merge
from vidseg.tracking import FrameDetections

__all__ = ["frame_detections", "fgbg_video_instances"]


def frame_detections(
    moving: Instances | None, static: Instances | None, image_size: tuple[int, int]
) -> FrameDetections:
    """Moving (``is_static`` False) then static (True) detections of one frame, class-agnostic (label -1).

    Args:
        moving / static: post-processed ``Instances`` with ``pred_masks`` (N×H×W, bool) and ``scores`` at
            ``image_size``, or ``None``.
    """
    masks, scores, flags = [], [], []
    for inst, is_static in ((moving, False), (static, True)):
        if inst is None or len(inst) == 0:
            continue
        inst = inst.to("cpu")
        masks.append(inst.pred_masks.numpy().astype(bool))
        scores.append(inst.scores.numpy())
        flags.append(np.full(len(inst), is_static))
    if not masks:
        return FrameDetections.empty(image_size)
    return FrameDetections(
        masks=np.concatenate(masks), scores=np.concatenate(scores), is_static=np.concatenate(flags),
        image_size=image_size,
    )


def fgbg_video_instances(
    frames: Sequence[FrameDetections], *, score_thresh: float, frame_idx: Sequence[int]
) -> VideoInstances:
    """One foreground "track": per frame the union of the moving detections scoring ``> score_thresh``
    (``None`` where there is none). Zero tracks when no frame has foreground."""
    if not frames:
        raise ValueError("fgbg_video_instances: got 0 frames")
    size = frames[0].image_size
    per_frame = []
    for det in frames:
        keep = [r for r, s, st in zip(det.rles, det.scores, det.is_static) if s > score_thresh and not st]
        if not keep:
            per_frame.append(None)
            continue
        per_frame.append(merge(keep))
    if all(r is None for r in per_frame):
        return VideoInstances(image_size=size, frame_idx=list(frame_idx))
    return VideoInstances(image_size=size, frame_idx=list(frame_idx), track_ids=[1], scores=[1.0], labels=[-1],
                          masks=[per_frame])
