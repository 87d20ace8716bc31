"""Trackers turning per-frame candidates into ``VideoInstances`` (registered in ``TRACKER_REGISTRY``)."""
from .build import build_tracker
from .detections import FrameDetections
from .mask_iou import MaskIoUTracker

__all__ = ["FrameDetections", "MaskIoUTracker", "build_tracker"]
