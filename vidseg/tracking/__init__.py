"""Trackers turning per-frame detections into ``VideoInstances`` (registered in ``TRACKER_REGISTRY``)."""
from .build import build_tracker
from .detections import FrameDetections, rle_iou, to_coco_rle
from .mask_iou import MaskIoUTracker

__all__ = ["FrameDetections", "MaskIoUTracker", "build_tracker", "rle_iou", "to_coco_rle"]
