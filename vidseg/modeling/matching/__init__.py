"""Bipartite matching of set predictions to ground truth (video Hungarian matcher with point-sampled costs)."""
from .video_matcher import CLASS_LOSSES, VideoHungarianMatcher, class_probabilities

__all__ = ["CLASS_LOSSES", "VideoHungarianMatcher", "class_probabilities"]
