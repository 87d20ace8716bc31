"""``FlowFrameMapper``: single frames with their forward optical flow (two-stream moving-object models)."""
from __future__ import annotations

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import transforms as T

from vidseg.data.flow import FlowInput
from vidseg.data.flow.io import read_record_flow
from vidseg.registry import MAPPER_REGISTRY

from ..transforms import ClipAugmentation, apply_flow
from .common import annotated_frames, map_clip, map_video, record_name, require_keys


def read_flow(record: dict, t: int, transforms: T.Transform) -> torch.Tensor | None:
    """The flow from frame t to t+1, transformed like the frames: float32 2×H'×W' (u, v), or ``None`` when the
    record has no ``flow_file_names`` or ``flow_file_names[t]`` is ``None`` (the last frame)."""
    names = record.get("flow_file_names")
    if names is None or names[t] is None:
        return None
    flow = read_record_flow(record, t)
    return torch.from_numpy(np.ascontiguousarray(apply_flow(transforms, flow).transpose(2, 0, 1)))


@MAPPER_REGISTRY.register()
class FlowFrameMapper:
    """Train: one annotated frame per dict, drawn uniformly among the annotated frames that have a flow file
    (among all annotated frames if none has). Output as :class:`VideoClipMapper` with T = 1 (image and
    instances lists of length 1; every object of the frame, ``gt_ids`` = its id) plus
    ``flow``: list[1] of float32 2×H×W (u, v in pixels of the augmented frame) or ``[None]``, and
    ``flow_image``: list[1] of float32 3×H×W (the motion-stream encoding of ``INPUT.FLOW.*``) or ``[None]``.

    Test: the whole video resized for inference with ``flow`` and ``flow_image``: list[T] (``None`` on the last
    frame). With ``INPUT.FLOW.SOURCE`` ``dis``/``farneback`` missing flow files are estimated and cached first.

    The flow field gets the frame's geometric transform: warped spatially, ``u`` negated under a horizontal
    flip, ``u``/``v`` scaled by the resize factors (:func:`~vidseg.data.transforms.apply_flow`).
    """

    @configurable
    def __init__(
        self,
        *,
        is_train: bool,
        augmentation: ClipAugmentation,
        image_format: str,
        skip_empty: bool = False,
        flow_input: FlowInput | None = None,
    ) -> None:
        """
        Args:
            is_train: one random frame (True) or the whole video (False).
            augmentation: train augmentation or test resize.
            image_format: detectron2 ``INPUT.FORMAT``.
            skip_empty: return ``None`` in training for a frame without objects.
            flow_input: flow source + encoder; adds ``flow_image`` (``None``: no encoding, record flow as is).
        """
        self.is_train = bool(is_train)
        self.augmentation = augmentation
        self.image_format = image_format
        self.skip_empty = bool(skip_empty)
        self.flow_input = flow_input

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        return {
            "is_train": is_train,
            "augmentation": ClipAugmentation(cfg, is_train=is_train),
            "image_format": cfg.INPUT.FORMAT,
            "skip_empty": cfg.INPUT.CLIP.SKIP_EMPTY,
            "flow_input": FlowInput(cfg),
        }

    def sample_frame(self, record: dict) -> int:
        """An annotated frame with flow, uniformly (any annotated frame if no annotated frame has flow)."""
        candidates = annotated_frames(record)
        if not candidates:
            raise ValueError(f"{type(self).__name__}: {record_name(record)} has no annotated frame")
        names = record.get("flow_file_names")
        with_flow = [t for t in candidates if names is not None and names[t] is not None]
        pool = with_flow or candidates
        return int(pool[np.random.randint(len(pool))])

    def __call__(self, record: dict) -> dict | None:
        if self.flow_input is not None:
            record = self.flow_input.prepare(record)
        if not self.is_train:
            require_keys(record, ("file_names", "height", "width"), type(self).__name__)
            video, tfm = map_video(record, augmentation=self.augmentation, image_format=self.image_format)
            video["flow"] = [read_flow(record, t, tfm) for t in video["frame_idx"]]
            self._add_flow_image(video, record, tfm)
            return video
        require_keys(record, ("file_names", "height", "width", "annotations"), type(self).__name__)
        t = self.sample_frame(record)
        frame, tfm = map_clip(record, [t], augmentation=self.augmentation, image_format=self.image_format)
        if self.skip_empty and len(frame["instances"][0]) == 0:
            return None
        frame["flow"] = [read_flow(record, t, tfm)]
        self._add_flow_image(frame, record, tfm)
        return frame

    def _add_flow_image(self, out: dict, record: dict, tfm: T.Transform) -> None:
        if self.flow_input is not None:
            out["flow_image"] = [
                self.flow_input.encoded(record, t, tfm, transformed=f) for t, f in zip(out["frame_idx"], out["flow"])
            ]
