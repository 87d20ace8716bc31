"""Utilities: overlay video writer."""
from .video_visualizer import render_frames, track_color, write_overlay

__all__ = ["render_frames", "track_color", "write_overlay"]
