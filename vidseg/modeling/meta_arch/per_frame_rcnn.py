"""``PerFrameMaskRCNN``: an image Mask R-CNN run on every frame, linked into tracks by a ``TRACKER_REGISTRY`` tracker.

The "IoUTracker+" baseline of paper 002 Table I (per-frame Mask R-CNN + mask-IoU linking); its detector is also
the appearance stream that ``moseg`` builds on.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from detectron2.config import CfgNode, configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import Instances

from vidseg.structures import VideoInstances
from vidseg.tracking import FrameDetections, build_tracker

__all__ = ["PerFrameMaskRCNN"]


@META_ARCH_REGISTRY.register()
class PerFrameMaskRCNN(GeneralizedRCNN):
    """detectron2's ``GeneralizedRCNN`` on clips (training) and whole videos (inference).

    Training input: list of B clip dicts (``image``: T uint8 3×H×W tensors; ``instances``: T ``Instances`` with
    the same K objects, ``gt_ids`` −1 where absent). The B·T frames form one detectron2 batch; objects absent from
    a frame (``gt_ids == -1``) or with an empty box are dropped per frame. Returns detectron2's loss dict
    (``loss_rpn_cls, loss_rpn_loc, loss_cls, loss_box_reg, loss_mask``).

    Inference input: list of whole-video dicts (``image``: T frames, ``height``/``width``: original size,
    optional ``frame_idx``). Frames run through the detector in chunks of ``clip_chunk`` (0 = all at once),
    detections are resized to (height, width), and the tracker links them. Returns one
    ``{"video_instances": VideoInstances}`` per video.
    """

    @configurable
    def __init__(self, *, tracker: Callable[..., VideoInstances], clip_chunk: int = 0, **kwargs) -> None:
        """
        Args:
            tracker: ``tracker(list[FrameDetections], frame_idx=...) -> VideoInstances``.
            clip_chunk: frames per detector forward at inference (0 = the whole video).
            kwargs: ``GeneralizedRCNN`` arguments (backbone, proposal_generator, roi_heads, pixel_mean, ...).
        """
        super().__init__(**kwargs)
        if clip_chunk < 0:
            raise ValueError(f"TEST.CLIP_CHUNK: expected >= 0 (0 = whole video), got {clip_chunk}")
        self.tracker = tracker
        self.clip_chunk = int(clip_chunk)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        if not cfg.MODEL.MASK_ON:
            raise ValueError("MODEL.MASK_ON: PerFrameMaskRCNN needs the mask head; expected True")
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.ROI_HEADS.NUM_CLASSES = cfg.MODEL.NUM_CLASSES  # the one class key
        ret = super().from_config(cfg)
        ret.update(tracker=build_tracker(cfg), clip_chunk=cfg.TEST.CLIP_CHUNK)
        return ret

    def forward(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor] | list[dict]:
        if not self.training:
            return [self.track_video(video) for video in batched_inputs]
        frames = [frame for clip in batched_inputs for frame in self.clip_to_frames(clip)]
        return super().forward(frames)

    @staticmethod
    def clip_to_frames(clip: dict) -> list[dict]:
        """One detectron2 image dict per frame: {image: 3×H×W, instances: present objects only}."""
        images, targets = clip["image"], clip.get("instances")
        if targets is None:
            raise ValueError(f"PerFrameMaskRCNN: training clip {clip.get('video_id')!r} has no 'instances'")
        if len(images) != len(targets):
            raise ValueError(
                f"PerFrameMaskRCNN: clip {clip.get('video_id')!r} has {len(images)} images but {len(targets)} instances"
            )
        frames = []
        for image, inst in zip(images, targets):
            keep = inst.gt_boxes.nonempty()
            if inst.has("gt_ids"):
                keep &= inst.gt_ids != -1
            present = inst[keep]
            frames.append({"image": image, "instances": _without_ids(present)})
        return frames

    def detect_frames(self, images: Sequence[torch.Tensor], height: int, width: int) -> list[FrameDetections]:
        """Per-frame detections of T images (3×H'×W' each), masks pasted at (height, width)."""
        chunk = self.clip_chunk or len(images)
        dets: list[FrameDetections] = []
        with torch.no_grad():
            for start in range(0, len(images), chunk):
                inputs = [{"image": im, "height": height, "width": width} for im in images[start : start + chunk]]
                for out in self.inference(inputs, do_postprocess=True):
                    inst = out["instances"].to("cpu")
                    dets.append(
                        FrameDetections(
                            masks=inst.pred_masks.numpy().astype(bool),
                            scores=inst.scores.numpy(),
                            labels=inst.pred_classes.numpy(),
                            image_size=(height, width),
                        )
                    )
        return dets

    def track_video(self, video: dict) -> dict:
        """Detect on every frame of one video and link the detections: {"video_instances": VideoInstances}."""
        images = video["image"]
        if len(images) == 0:
            raise ValueError(f"PerFrameMaskRCNN: video {video.get('video_id')!r} has no frames")
        height = int(video.get("height", images[0].shape[-2]))
        width = int(video.get("width", images[0].shape[-1]))
        frame_idx = list(video.get("frame_idx", range(len(images))))
        dets = self.detect_frames(images, height, width)
        return {"video_instances": self.tracker(dets, frame_idx=frame_idx)}


def _without_ids(inst: Instances) -> Instances:
    """Copy of ``inst`` without the ``gt_ids`` field (detectron2's heads expect only boxes, classes, masks)."""
    out = Instances(inst.image_size)
    for name, value in inst.get_fields().items():
        if name != "gt_ids":
            out.set(name, value)
    return out
