"""Middlebury ``.flo`` optical-flow files (magic float 202021.25, int32 width, int32 height, H*W*2 float32)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DatasetFormatError

FLO_MAGIC = 202021.25


def read_flo(path: str | Path) -> np.ndarray:
    """Read a ``.flo`` file.

    Returns:
        H×W×2 float32 array; ``[..., 0]`` = u (x, right), ``[..., 1]`` = v (y, down), in pixels.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DatasetFormatError(p, f"cannot read flow file ({e.strerror})", expected="a Middlebury .flo") from e
    if len(raw) < 12:
        raise DatasetFormatError(p, f"flow file too short ({len(raw)} bytes)", expected="a 12-byte header")
    magic = np.frombuffer(raw, dtype="<f4", count=1)[0]
    if magic != np.float32(FLO_MAGIC):
        raise DatasetFormatError(p, f"bad .flo magic {magic!r}", expected=f"{FLO_MAGIC}")
    w, h = (int(x) for x in np.frombuffer(raw, dtype="<i4", count=2, offset=4))
    n = h * w * 2
    if w <= 0 or h <= 0 or len(raw) != 12 + 4 * n:
        raise DatasetFormatError(
            p, f".flo header says {w}x{h} but the file has {len(raw)} bytes", expected=f"{12 + 4 * max(n, 0)} bytes"
        )
    return np.frombuffer(raw, dtype="<f4", count=n, offset=12).reshape(h, w, 2).astype(np.float32)


def write_flo(path: str | Path, flow: np.ndarray) -> None:
    """Write an H×W×2 flow field (u, v) as a Middlebury ``.flo`` file (parent folders are created)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"write_flo({path}): flow must be H×W×2, got shape {flow.shape}")
    h, w = flow.shape[:2]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    header = np.array([FLO_MAGIC], dtype="<f4").tobytes() + np.array([w, h], dtype="<i4").tobytes()
    p.write_bytes(header + np.ascontiguousarray(flow, dtype="<f4").tobytes())
