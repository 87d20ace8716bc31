"""Trackers turning per-frame candidates into ``VideoInstances`` (``TRACKER_REGISTRY``), their cost terms
(``COST_TERM_REGISTRY``) and motion priors (``MOTION_PRIOR_REGISTRY``)."""
from .base import Tracker
from .build import build_tracker
from .clip import ClipTrackAccumulator, WindowPredictions
from .clip_motion import MotionClipTrackAccumulator
from .costs import Side, assign, combine, evaluate_terms
from .detections import FrameDetections
from .mask_iou import MaskIoUTracker
from .motion import MotionPrior, TrackHistory, build_motion_prior
from .query import FrameQueries, QueryMatchingTracker

__all__ = [
    "ClipTrackAccumulator", "FrameDetections", "FrameQueries", "QueryMatchingTracker", "MaskIoUTracker", "MotionClipTrackAccumulator", "MotionPrior", "Side", "TrackHistory", "Tracker", "assign",
    "build_motion_prior", "build_tracker", "combine", "evaluate_terms", "WindowPredictions",
]
