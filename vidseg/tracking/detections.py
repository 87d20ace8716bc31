"""``FrameDetections``: the per-frame detector output every tracker in :mod:`vidseg.tracking` consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from vidseg.structures.masks import RLE, encode_masks, to_coco_rle


__all__ = ["FrameDetections"]


@dataclass(kw_only=True)
class FrameDetections:
    """Detections of one frame.

    Attributes:
        masks: N RLEs (COCO compressed or uncompressed; ``counts`` str, bytes or list) or an N×H×W boolean array.
            Normalised on construction to N pycocotools-ready RLEs (``counts`` bytes).
        scores: N detection scores in [0, 1].
        labels: N contiguous class ids (``-1`` = class-agnostic); default all ``-1``.
        is_static: N flags; ``True`` marks a detection of an appearance-only ("static") detector, which may extend
            tracks but never start one. Default all ``False``.
        image_size: (H, W). Inferred from the masks when omitted; required for an empty RLE list.
    """

    masks: Sequence[RLE] | np.ndarray
    scores: Sequence[float] | np.ndarray
    labels: Sequence[int] | np.ndarray | None = None
    is_static: Sequence[bool] | np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    rles: list[RLE] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.masks, np.ndarray):
            if self.masks.ndim != 3:
                raise ValueError(f"FrameDetections.masks: expected an N×H×W array, got shape {self.masks.shape}")
            size = (int(self.masks.shape[1]), int(self.masks.shape[2]))
            self.rles = [to_coco_rle(r) for r in encode_masks(self.masks)]
        else:
            self.rles = [to_coco_rle(r) for r in self.masks]
            sizes = {tuple(int(s) for s in r["size"]) for r in self.rles}
            if len(sizes) > 1:
                raise ValueError(f"FrameDetections.masks: RLEs of different sizes {sorted(sizes)}")
            size = sizes.pop() if sizes else None
        if self.image_size is not None:
            self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
            if size is not None and size != self.image_size:
                raise ValueError(f"FrameDetections: mask size {size} != image_size {self.image_size}")
        elif size is None:
            raise ValueError("FrameDetections: image_size is required when there are no masks")
        else:
            self.image_size = size
        n = len(self.rles)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        self.labels = (
            np.full(n, -1, dtype=np.int64) if self.labels is None else np.asarray(self.labels, dtype=np.int64)
        ).reshape(-1)
        self.is_static = (
            np.zeros(n, dtype=bool) if self.is_static is None else np.asarray(self.is_static, dtype=bool)
        ).reshape(-1)
        for name in ("scores", "labels", "is_static"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"FrameDetections.{name}: expected {n} entries (one per mask), got "
                                 f"{len(getattr(self, name))}")

    def __len__(self) -> int:
        return len(self.rles)

    @classmethod
    def empty(cls, image_size: tuple[int, int]) -> "FrameDetections":
        """A frame with no detections."""
        return cls(masks=[], scores=[], image_size=image_size)
