"""``FrameFeatureCache``: backbone + pixel-decoder outputs per frame, computed once for sliding-window inference.

Windows overlap (length ``TEST_WINDOW``, step ``TEST_STRIDE``), but the backbone and pixel decoder see one frame at
a time, so a frame's features do not depend on the window: each frame is encoded when a window first reaches it
and kept until the window start passes it. Memory holds at most one window of features, whatever the video length.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from detectron2.structures import ImageList


class FrameFeatureCache:
    """Per-frame (mask features, multi-scale levels) of one video, evicted once no later window needs them."""

    def __init__(self, frames: Sequence[torch.Tensor], preprocess: Callable[[list[torch.Tensor]], ImageList],
                 encode: Callable[[torch.Tensor, int], tuple[torch.Tensor, list[torch.Tensor]]], chunk: int = 0
                 ) -> None:
        """
        Args:
            frames: the video's frames (any sequence; only the frames of the current window are read).
            preprocess: normalises and pads a list of frames (``IFR.preprocess``).
            encode: (F, 3, H, W) -> mask features (F, ...) and levels [(F, ...)] (``IFR.encode``).
            chunk: frames per encoder call (0 = all new frames of a window at once).
        """
        self.frames, self.preprocess, self.encode, self.chunk = frames, preprocess, encode, chunk
        self.store: dict[int, tuple[torch.Tensor, list[torch.Tensor]]] = {}
        self.images: ImageList | None = None  # padding of the first encoded batch (all frames share one size)
        self.encoded = 0  # frames encoded so far (each exactly once)

    def window(self, start: int, end: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Mask features (T, ...) and levels [(T, ...)] of frames [start, end); frames before ``start`` are freed."""
        for f in [f for f in self.store if f < start]:
            del self.store[f]
        new = [f for f in range(start, end) if f not in self.store]
        if new:
            images = self.preprocess([self.frames[f] for f in new])
            if self.images is None:
                self.images = images
            elif tuple(images.tensor.shape[-2:]) != tuple(self.images.tensor.shape[-2:]):
                raise ValueError("FrameFeatureCache: all frames of a video must have the same size")
            mask_features, levels = self.encode(images.tensor, self.chunk)
            for i, f in enumerate(new):
                self.store[f] = (mask_features[i], [lvl[i] for lvl in levels])
            self.encoded += len(new)
        feats = [self.store[f] for f in range(start, end)]
        return torch.stack([m for m, _ in feats]), [torch.stack(lv) for lv in zip(*[l for _, l in feats])]
