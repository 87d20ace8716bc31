"""Optical flow as a 3-channel network input (paper 001).

Per pixel, for a field (u, v) on an H×W frame with diagonal ``D = sqrt(H² + W²)``::

    channel 0 = 0
    channel 1 = mag_scale · min(|f|, D) / D                  (magnitude, in [0, mag_scale])
    channel 2 = angle_scale · (atan2(v, u) + π) / (2π)        (angle code, in [0, angle_scale])

This is the official loader's image (BGR order ``[zero, magnitude, angle]``) computed from the raw field instead
of the 8-bit PNG + min/max sidecar; ``emulate_png_quantization`` reproduces that PNG round trip.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import transforms as T

from ..transforms import apply_flow

__all__ = ["FLIP_MODES", "RESIZE_MODES", "FlowEncoder", "encode_flow", "mirrors_horizontally"]

FLIP_MODES = ("correct", "naive")
RESIZE_MODES = ("raw", "encoded")


def _check_field(flow: np.ndarray, where: str) -> np.ndarray:
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"{where}: flow must be H×W×2 (u, v), got shape {flow.shape}")
    return flow


def encode_flow(
    flow: np.ndarray,
    *,
    diagonal: float | None = None,
    mag_scale: float = 6.0,
    angle_scale: float = 255.0,
    low_magnitude_threshold: float = 0.0,
    emulate_png_quantization: bool = False,
) -> np.ndarray:
    """Encode a flow field as the paper's 3-channel image.

    Args:
        flow: H×W×2 float (u = +x right, v = +y down), in pixels.
        diagonal: the clipping/normalising length D (default: the diagonal of the H×W field).
        mag_scale: the magnitude channel is ``mag_scale · min(|f|, D) / D``.
        angle_scale: the angle channel maps [-π, π] linearly onto [0, angle_scale].
        low_magnitude_threshold: where |f| (pixels) is below this, the angle channel is set to 0 (0 = off).
        emulate_png_quantization: reproduce the official storage (angle code and per-frame min-max-normalised
            magnitude truncated to uint8, magnitude decoded back from the min/max sidecar). A constant-magnitude
            frame (max = min) decodes to that constant.

    Returns:
        H×W×3 float32: ``[zero, magnitude, angle]``.
    """
    flow = _check_field(flow, "encode_flow")
    h, w = flow.shape[:2]
    diag = float(math.hypot(h, w) if diagonal is None else diagonal)
    if diag <= 0:
        raise ValueError(f"encode_flow: diagonal must be > 0, got {diag}")
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    mag = np.hypot(u, v)
    angle = angle_scale * (np.arctan2(v, u) + np.pi) / (2 * np.pi)
    if emulate_png_quantization:
        angle = np.floor(np.clip(angle, 0, 255))
        lo, hi = (float(mag.min()), float(mag.max())) if mag.size else (0.0, 0.0)
        if hi > lo:
            mag = np.floor(255.0 * (mag - lo) / (hi - lo)) / 255.0 * (hi - lo) + lo
    if low_magnitude_threshold > 0:
        angle = np.where(mag < low_magnitude_threshold, 0.0, angle)
    out = np.zeros((h, w, 3), dtype=np.float32)
    out[..., 1] = np.minimum(mag, diag) / (diag / mag_scale)
    out[..., 2] = angle
    return out


def _linear_part(transforms: T.Transform) -> np.ndarray:
    """2×2 matrix A of the (affine) transform ``x' = A x + b``; columns are the images of e_x and e_y."""
    basis = transforms.apply_coords(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float64))
    return np.stack([basis[1] - basis[0], basis[2] - basis[0]], axis=1)


def mirrors_horizontally(transforms: T.Transform) -> bool:
    """Whether the transform maps +x onto a leftward direction (a horizontal flip is part of it)."""
    return bool(_linear_part(transforms)[0, 0] < 0)


class FlowEncoder:
    """Encodes raw flow for the motion stream, reproducing the augmentation choices of paper 001

    ``flip_mode``: ``correct`` (the flipped field has u negated before encoding) or ``naive`` (official code:
    the encoded image is mirrored, angle codes keep the unflipped direction). ``resize_mode``: ``raw`` (the
    field is resized, vectors scaled, then encoded at the new size) or ``encoded`` (official: encode at the
    source size, then resize the encoded channels bilinearly).
    """

    @configurable
    def __init__(
        self,
        *,
        mag_scale: float = 6.0,
        angle_scale: float = 255.0,
        low_magnitude_threshold: float = 0.0,
        emulate_png_quantization: bool = False,
        flip_mode: str = "correct",
        resize_mode: str = "raw",
    ) -> None:
        if flip_mode not in FLIP_MODES:
            raise ValueError(f"INPUT.FLOW.FLIP_MODE={flip_mode!r}: expected one of {FLIP_MODES}")
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f"INPUT.FLOW.RESIZE_MODE={resize_mode!r}: expected one of {RESIZE_MODES}")
        if mag_scale <= 0 or angle_scale <= 0:
            raise ValueError(f"INPUT.FLOW.MAG_SCALE / ANGLE_SCALE must be > 0, got {mag_scale} / {angle_scale}")
        self.mag_scale = float(mag_scale)
        self.angle_scale = float(angle_scale)
        self.low_magnitude_threshold = float(low_magnitude_threshold)
        self.emulate_png_quantization = bool(emulate_png_quantization)
        self.flip_mode = flip_mode
        self.resize_mode = resize_mode

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        f = cfg.INPUT.FLOW
        if f.ENCODING != "angle_magnitude":
            raise ValueError(f"INPUT.FLOW.ENCODING={f.ENCODING!r}: only 'angle_magnitude' is implemented")
        return {
            "mag_scale": f.MAG_SCALE,
            "angle_scale": f.ANGLE_SCALE,
            "low_magnitude_threshold": f.LOW_MAGNITUDE_THRESHOLD,
            "emulate_png_quantization": f.EMULATE_PNG_QUANTIZATION,
            "flip_mode": f.FLIP_MODE,
            "resize_mode": f.RESIZE_MODE,
        }

    def encode(self, flow: np.ndarray) -> np.ndarray:
        """H×W×2 field -> H×W×3 float32 encoding (diagonal of this field)."""
        return encode_flow(
            flow,
            mag_scale=self.mag_scale,
            angle_scale=self.angle_scale,
            low_magnitude_threshold=self.low_magnitude_threshold,
            emulate_png_quantization=self.emulate_png_quantization,
        )

    def encode_transformed(self, flow: np.ndarray, transforms: T.Transform) -> np.ndarray:
        """Encode a source-resolution field for a frame that underwent ``transforms`` (resize/crop/flip).

        Args:
            flow: H×W×2 raw field at the source resolution.
            transforms: the frame's detectron2 transform (list).
        Returns:
            H'×W'×3 float32 encoding aligned with the transformed frame.
        """
        flow = _check_field(flow, "FlowEncoder.encode_transformed")
        flipped = mirrors_horizontally(transforms)
        if self.resize_mode == "raw":
            moved = apply_flow(transforms, flow)
            if flipped and self.flip_mode == "naive":
                moved[..., 0] *= -1  # keep the unflipped direction, as mirroring an encoded image does
            return self.encode(moved)
        src = flow.copy()
        if flipped and self.flip_mode == "correct":
            src[..., 0] *= -1  # mirroring the encoded image then shows the flipped direction
        return np.ascontiguousarray(transforms.apply_image(self.encode(src)), dtype=np.float32)

    def encode_tensor(self, flow: torch.Tensor) -> torch.Tensor:
        """2×H×W (u, v) tensor -> 3×H×W float32 tensor on the same device."""
        if flow.dim() != 3 or flow.shape[0] != 2:
            raise ValueError(f"FlowEncoder.encode_tensor: expected a 2×H×W (u, v) tensor, got {tuple(flow.shape)}")
        enc = self.encode(flow.detach().permute(1, 2, 0).cpu().numpy())
        return torch.from_numpy(np.ascontiguousarray(enc.transpose(2, 0, 1))).to(flow.device)

    def __repr__(self) -> str:
        return (f"FlowEncoder(mag_scale={self.mag_scale}, angle_scale={self.angle_scale}, "
                f"low_magnitude_threshold={self.low_magnitude_threshold}, "
                f"emulate_png_quantization={self.emulate_png_quantization}, flip_mode={self.flip_mode!r}, "
                f"resize_mode={self.resize_mode!r})")
