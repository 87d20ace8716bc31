"""``VideoInstances``: the single output contract every model produces and every evaluator reads."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .masks import RLE, decode_mask, encode_mask


@dataclass
class VideoInstances:
    """Tracked instances of one video.

    Attributes:
        image_size: (H, W) of the original video frames; every mask has this size.
        frame_idx: indices (into the dataset record's ``file_names``) of the T frames covered.
        track_ids: N ints, unique within the video.
        scores: N floats in [0, 1].
        labels: N contiguous class ids (``-1`` = class-agnostic).
        masks: N lists of T RLEs, ``None`` where the instance is absent in that frame.
    """

    image_size: tuple[int, int]
    frame_idx: list[int]
    track_ids: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    masks: list[list[RLE | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        self.frame_idx = [int(i) for i in self.frame_idx]
        n = len(self.track_ids)
        if not (len(self.scores) == len(self.labels) == len(self.masks) == n):
            raise ValueError(
                f"VideoInstances: track_ids/scores/labels/masks lengths differ "
                f"({n}, {len(self.scores)}, {len(self.labels)}, {len(self.masks)})"
            )
        if len(set(self.track_ids)) != n:
            raise ValueError(f"VideoInstances: duplicate track ids {self.track_ids}")
        t = len(self.frame_idx)
        for k, per_frame in enumerate(self.masks):
            if len(per_frame) != t:
                raise ValueError(f"VideoInstances: track {self.track_ids[k]} has {len(per_frame)} masks for {t} frames")
            for rle in per_frame:
                if rle is not None and tuple(rle["size"]) != self.image_size:
                    raise ValueError(
                        f"VideoInstances: mask size {tuple(rle['size'])} != image_size {self.image_size}"
                    )

    def __len__(self) -> int:
        return len(self.track_ids)

    @property
    def num_frames(self) -> int:
        return len(self.frame_idx)

    @classmethod
    def from_dense(
        cls,
        masks: np.ndarray,
        scores: Sequence[float],
        labels: Sequence[int],
        *,
        track_ids: Sequence[int] | None = None,
        frame_idx: Sequence[int] | None = None,
        present: np.ndarray | None = None,
    ) -> "VideoInstances":
        """Build from dense N×T×H×W masks. A frame is ``None`` where ``present[n, t]`` is False
        (default: where the mask is empty)."""
        masks = np.asarray(masks).astype(bool)
        if masks.ndim != 4:
            raise ValueError(f"VideoInstances.from_dense: masks must be N×T×H×W, got shape {masks.shape}")
        n, t, h, w = masks.shape
        if present is None:
            present = masks.reshape(n, t, -1).any(-1)
        rles = [[encode_mask(masks[i, j]) if present[i, j] else None for j in range(t)] for i in range(n)]
        return cls(
            image_size=(h, w),
            frame_idx=list(range(t)) if frame_idx is None else list(frame_idx),
            track_ids=list(range(1, n + 1)) if track_ids is None else [int(i) for i in track_ids],
            scores=[float(s) for s in scores],
            labels=[int(c) for c in labels],
            masks=rles,
        )

    def dense(self, i: int) -> np.ndarray:
        """T×H×W uint8 masks of instance ``i`` (zeros where absent)."""
        out = np.zeros((self.num_frames, *self.image_size), dtype=np.uint8)
        for j, rle in enumerate(self.masks[i]):
            if rle is not None:
                out[j] = decode_mask(rle)
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable form (round-trips through :meth:`from_dict`)."""
        return {
            "image_size": list(self.image_size),
            "frame_idx": self.frame_idx,
            "track_ids": self.track_ids,
            "scores": self.scores,
            "labels": self.labels,
            "masks": self.masks,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "VideoInstances":
        return cls(**d)
