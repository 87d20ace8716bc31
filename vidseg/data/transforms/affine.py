"""A size-preserving affine warp (scale, rotation, translation about the image centre).

Used per frame by :class:`~vidseg.data.mappers.ImageToClipMapper` to turn one still image into a pseudo video
(small independent motions per frame, as in SeqFormer/IDOL pseudo-clips).
"""
from __future__ import annotations

import cv2
import numpy as np
from detectron2.data import transforms as T


class AffineTransform(T.Transform):
    """``x' = A (x - c) + c + t`` in detectron2's continuous coordinates (pixel ``i`` covers ``[i, i+1)``).

    ``A = scale · R(angle)`` (angle in degrees, counter-clockwise on screen), ``c`` = image centre,
    ``t`` = translation in pixels. The output has the input's size; uncovered pixels are 0.
    """

    def __init__(self, *, height: int, width: int, scale: float, angle: float, tx: float, ty: float) -> None:
        super().__init__()
        theta = np.deg2rad(angle)
        cos, sin = np.cos(theta) * scale, np.sin(theta) * scale
        lin = np.array([[cos, sin], [-sin, cos]], dtype=np.float64)  # y axis points down
        centre = np.array([width / 2.0, height / 2.0])
        offset = centre - lin @ centre + np.array([tx, ty])
        self.height, self.width = int(height), int(width)
        self.matrix = np.concatenate([lin, offset[:, None]], axis=1)  # 2×3, continuous coordinates
        # cv2 puts pixel centres at integers: shift by half a pixel on both sides.
        half = np.array([0.5, 0.5])
        self.pixel_matrix = np.concatenate([lin, (offset + lin @ half - half)[:, None]], axis=1)

    def _warp(self, img: np.ndarray, interp: int) -> np.ndarray:
        if img.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"AffineTransform: image of size {img.shape[:2]} but the transform was drawn for "
                f"{(self.height, self.width)}"
            )
        out = cv2.warpAffine(
            np.ascontiguousarray(img), self.pixel_matrix, (self.width, self.height), flags=interp, borderValue=0
        )
        return out.reshape(self.height, self.width, *img.shape[2:])  # cv2 drops a trailing channel of 1

    def apply_image(self, img: np.ndarray, interp: int = cv2.INTER_LINEAR) -> np.ndarray:
        """H×W[×C] uint8 or float -> H×W[×C], bilinear."""
        return self._warp(img, interp)

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        """H×W integer mask -> H×W, nearest neighbour."""
        return self._warp(segmentation, cv2.INTER_NEAREST)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        """N×2 (x, y) -> N×2."""
        coords = np.asarray(coords, dtype=np.float64)
        return coords @ self.matrix[:, :2].T + self.matrix[:, 2]


class RandomAffine(T.Augmentation):
    """Draw an :class:`AffineTransform` with ``scale ~ U(scale_range)``, ``angle ~ U(±max_rotation)`` degrees
    and a translation ``~ U(±max_translation)`` times the image width/height."""

    def __init__(
        self, *, scale_range: tuple[float, float], max_rotation: float, max_translation: float
    ) -> None:
        super().__init__()
        lo, hi = (float(v) for v in scale_range)
        if not 0 < lo <= hi:
            raise ValueError(f"RandomAffine: scale_range must satisfy 0 < min <= max, got {scale_range}")
        self.scale_range = (lo, hi)
        self.max_rotation = float(max_rotation)
        self.max_translation = float(max_translation)

    def get_transform(self, image: np.ndarray) -> AffineTransform:
        h, w = image.shape[:2]
        tx, ty = np.random.uniform(-self.max_translation, self.max_translation, size=2) * np.array([w, h])
        return AffineTransform(
            height=h,
            width=w,
            scale=float(np.random.uniform(*self.scale_range)),
            angle=float(np.random.uniform(-self.max_rotation, self.max_rotation)),
            tx=float(tx),
            ty=float(ty),
        )
