"""Frames of a user's video for inference (``demo/demo.py``): an mp4 (any container OpenCV reads) or a folder /
list of image files, read one frame at a time so that memory does not grow with the video's length."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "VideoInputError", "FrameSource"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class VideoInputError(ValueError):
    """Unreadable user input; the message starts with the offending file."""


class FrameSource:
    """Iterate ``(name, BGR uint8 H×W×3)`` over a video file or image files.

    Args:
        video: a video file (``--video-input``), or
        images: a folder of images or a list of image files (``--input``; sorted by name).
    """

    def __init__(self, *, video: str | os.PathLike | None = None,
                 images: str | os.PathLike | Sequence[str | os.PathLike] | None = None) -> None:
        if (video is None) == (images is None):
            raise ValueError("FrameSource: give exactly one of video= or images=")
        self.video = None if video is None else Path(video)
        self.files: list[Path] = []
        self.fps = 10.0
        if self.video is not None:
            if not self.video.is_file():
                raise VideoInputError(f"{self.video}: video file not found")
            cap = cv2.VideoCapture(str(self.video))
            ok = cap.isOpened()
            count, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
            has_frame = ok and cap.read()[0]
            cap.release()
            if not has_frame:
                raise VideoInputError(f"{self.video}: OpenCV cannot read a frame from this file (not a video, "
                                      "or a codec OpenCV lacks)")
            self.num_frames = count if count > 0 else None
            self.fps = float(fps) if fps and fps > 0 else self.fps
        else:
            self.files = self._list_images(images)
            self.num_frames = len(self.files)
        self.name = (self.video.stem if self.video is not None else
                     (Path(images).name if isinstance(images, (str, os.PathLike)) else self.files[0].parent.name))

    @staticmethod
    def _list_images(images) -> list[Path]:
        if isinstance(images, (str, os.PathLike)):
            folder = Path(images)
            if not folder.is_dir():
                raise VideoInputError(f"{folder}: not a folder of frames")
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise VideoInputError(f"{folder}: no frames (expected image files {', '.join(IMAGE_EXTENSIONS)})")
            return files
        files = [Path(p) for p in images]
        if not files:
            raise VideoInputError("--input: no image files given")
        missing = [p for p in files if not p.is_file()]
        if missing:
            raise VideoInputError(f"{missing[0]}: image file not found")
        return sorted(files)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        if self.video is not None:
            cap = cv2.VideoCapture(str(self.video))
            t = 0
            try:
                while True:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    yield f"{t:05d}", frame
                    t += 1
            finally:
                cap.release()
            return
        size = None
        for path in self.files:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                raise VideoInputError(f"{path}: cannot read this image")
            if size is not None and frame.shape[:2] != size:
                raise VideoInputError(f"{path}: frame size {frame.shape[:2]} differs from the first frame's {size}")
            size = frame.shape[:2]
            yield path.stem, frame
