"""Overlay writer: a video's frames with its ``VideoInstances`` masks, one stable colour per track id.

Frames are drawn with detectron2's ``Visualizer`` and written as an animated GIF (Pillow) or an mp4 (OpenCV).
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import cv2
import numpy as np
from detectron2.data.detection_utils import read_image
from detectron2.utils.colormap import colormap
from detectron2.utils.visualizer import ColorMode, Visualizer
from PIL import Image

from vidseg.structures.video_instances import VideoInstances
from vidseg.structures.masks import decode_mask

__all__ = ["track_color", "render_frames", "write_overlay"]

_PALETTE = colormap(rgb=True, maximum=1)  # 74 distinct RGB colours in [0, 1]


def track_color(track_id: int) -> tuple[float, float, float]:
    """The RGB colour (floats in [0, 1]) of a track id; the same id always gets the same colour."""
    return tuple(float(c) for c in _PALETTE[int(track_id) % len(_PALETTE)])


def _load_frames(video_record_or_frames: Any, vi: VideoInstances) -> list[np.ndarray]:
    """T RGB uint8 H×W×3 frames for the frames of ``vi``."""
    src = video_record_or_frames
    if isinstance(src, dict):
        if "file_names" not in src:
            raise ValueError("write_overlay: a video dict needs 'file_names' (a dataset record or model input)")
        names = src["file_names"]
        if max(vi.frame_idx, default=-1) >= len(names):
            raise ValueError(
                f"write_overlay: frame_idx {max(vi.frame_idx)} out of range for video {src.get('video_id')!r} "
                f"with {len(names)} file_names"
            )
        src = [names[i] for i in vi.frame_idx]
    if isinstance(src, np.ndarray) and src.ndim == 4:
        src = list(src)
    if len(src) != vi.num_frames:
        raise ValueError(f"write_overlay: got {len(src)} frames for VideoInstances with {vi.num_frames} frames")
    frames = []
    for f in src:
        img = read_image(os.fspath(f), format="RGB") if isinstance(f, (str, os.PathLike)) else np.asarray(f)
        if img.ndim != 3 or img.shape[2] != 3 or tuple(img.shape[:2]) != vi.image_size:
            where = f if isinstance(f, (str, os.PathLike)) else "array frame"
            raise ValueError(
                f"write_overlay: {where}: expected an RGB image of size {vi.image_size} (H, W), got shape {img.shape}"
            )
        frames.append(img.astype(np.uint8))
    return frames


def render_frames(
    frames: Sequence[np.ndarray],
    video_instances: VideoInstances,
    metadata: Any = None,
    *,
    alpha: float = 0.5,
    show_labels: bool = True,
) -> list[np.ndarray]:
    """Draw the tracks of ``video_instances`` on T RGB uint8 H×W×3 frames; returns T RGB uint8 H×W×3 frames.

    Each track is filled with :func:`track_color` (blend factor ``alpha``) and, with ``show_labels``, captioned
    "<track id> <class name> <score>" (class names from ``metadata.thing_classes`` when present).
    """
    vi = video_instances
    classes = getattr(metadata, "thing_classes", None) if metadata is not None else None
    out = []
    for t, frame in enumerate(frames):
        ks = [k for k in range(len(vi)) if vi.masks[k][t] is not None]
        vis = Visualizer(frame, metadata, scale=1.0, instance_mode=ColorMode.IMAGE)
        if ks:
            labels = None
            if show_labels:
                labels = []
                for k in ks:
                    c = vi.labels[k]
                    name = classes[c] if classes is not None and 0 <= c < len(classes) else ""
                    labels.append(" ".join(s for s in (str(vi.track_ids[k]), name, f"{vi.scores[k]:.2f}") if s))
            vis.overlay_instances(
                masks=[decode_mask(vi.masks[k][t]) for k in ks],
                labels=labels,
                assigned_colors=[track_color(vi.track_ids[k]) for k in ks],
                alpha=alpha,
            )
        out.append(vis.get_output().get_image()[:, :, :3].astype(np.uint8))
    return out


def write_overlay(
    video_record_or_frames: dict | Sequence[str | os.PathLike | np.ndarray] | np.ndarray,
    video_instances: VideoInstances,
    out_path: str | os.PathLike,
    metadata: Any = None,
    *,
    fps: float = 5.0,
    alpha: float = 0.5,
    show_labels: bool = True,
) -> str:
    """Write the overlay video of one ``VideoInstances`` and return its path.

    Args:
        video_record_or_frames: a dataset record / model-input dict with ``file_names`` (frames picked by
            ``video_instances.frame_idx``), or T image paths, or T RGB uint8 H×W×3 arrays (a T×H×W×3 array too).
            Frames must have the size ``video_instances.image_size``.
        video_instances: the tracks to draw (masks at the original resolution).
        out_path: ``*.gif`` (animated GIF, looping; Pillow merges consecutive identical frames) or ``*.mp4``.
        metadata: detectron2 ``Metadata`` (``thing_classes`` names the labels), optional.
        fps: frames per second.
        alpha: mask blend factor.
        show_labels: caption each mask with track id, class name and score.
    """
    out_path = os.fspath(out_path)
    ext = os.path.splitext(out_path)[1].lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"write_overlay: {out_path}: expected a .gif or .mp4 output path")
    frames = render_frames(
        _load_frames(video_record_or_frames, video_instances), video_instances, metadata,
        alpha=alpha, show_labels=show_labels,
    )
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    if ext == ".gif":
        images = [
            Image.fromarray(f).quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            for f in frames
        ]
        images[0].save(
            out_path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0
        )
    else:
        h, w = video_instances.image_size
        writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
        if not writer.isOpened():
            raise RuntimeError(f"write_overlay: {out_path}: OpenCV could not open an mp4 writer (codec mp4v)")
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
    return out_path
