"""Helpers shared by the pixel decoders: norm construction and feature-name validation."""
from __future__ import annotations

import math
from typing import Sequence

from detectron2.layers import ShapeSpec, get_norm
from torch import nn

__all__ = ["make_norm", "check_in_features"]


def make_norm(norm: str, channels: int) -> nn.Module | None:
    """``"GN"`` -> GroupNorm with 32 groups (fewer when ``channels`` is not a multiple of 32, so tiny test widths
    work; identical to detectron2's GN for the usual 256); ``""`` -> None; other names -> detectron2's
    ``get_norm``."""
    if norm == "GN":
        return nn.GroupNorm(math.gcd(32, channels), channels)
    return get_norm(norm, channels)


def check_in_features(key: str, names: Sequence[str], input_shape: dict[str, ShapeSpec], *, minimum: int) -> None:
    """Raise a one-line error naming ``key`` unless ``names`` are >= ``minimum`` distinct available features."""
    missing = [n for n in names if n not in input_shape]
    if missing or len(set(names)) < minimum:
        raise ValueError(f"{key}: expected at least {minimum} of the backbone features {sorted(input_shape)}, "
                         f"got {list(names)}")
