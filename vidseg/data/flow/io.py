"""Reading flow fields from the supported file formats: Middlebury ``.flo`` (see :mod:`vidseg.data.io.flo`),
``.npy`` (H×W×2 float32) and FlyingThings3D ``.pfm`` ground truth."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vidseg.data.io.errors import DatasetFormatError
from vidseg.data.io.flo import read_flo, write_flo

__all__ = ["FLOW_SUFFIXES", "read_flow_file", "read_record_flow", "read_pfm", "write_flo", "read_flo"]

FLOW_SUFFIXES = (".flo", ".npy", ".pfm")


def read_pfm(path: str | Path) -> np.ndarray:
    """Read a PFM image: H×W×C float32 (C = 3 for ``PF``, 1 for ``Pf``), top row first."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DatasetFormatError(p, f"cannot read PFM file ({e.strerror})", expected="a .pfm image") from e
    parts = raw.split(b"\n", 3)
    if len(parts) < 4 or parts[0].strip() not in (b"PF", b"Pf"):
        raise DatasetFormatError(p, "bad PFM header", expected="'PF' or 'Pf', then 'W H', then the scale")
    channels = 3 if parts[0].strip() == b"PF" else 1
    try:
        w, h = (int(x) for x in parts[1].split())
        scale = float(parts[2].strip())
    except ValueError as e:
        raise DatasetFormatError(p, f"bad PFM size/scale line ({e})", expected="'W H' and a float scale") from e
    dtype = "<f4" if scale < 0 else ">f4"
    n = w * h * channels
    if len(parts[3]) < 4 * n:
        raise DatasetFormatError(p, f"PFM data has {len(parts[3])} bytes",
                                 expected=f"{4 * n} bytes for {w}x{h}x{channels}")
    data = np.frombuffer(parts[3], dtype=dtype, count=n).reshape(h, w, channels)
    return np.ascontiguousarray(data[::-1]).astype(np.float32)  # PFM stores the bottom row first


def read_flow_file(path: str | Path) -> np.ndarray:
    """Read a flow field by suffix (``.flo``, ``.npy``, ``.pfm``).

    Returns:
        H×W×2 float32 (u, v) in pixels.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".flo":
        return read_flo(p)
    if suffix == ".npy":
        try:
            flow = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DatasetFormatError(p, f"cannot read .npy flow ({e})", expected="an H×W×2 float array") from e
    elif suffix == ".pfm":
        flow = read_pfm(p)[..., :2]
    else:
        raise DatasetFormatError(p, f"unknown flow file suffix {suffix!r}", expected=f"one of {FLOW_SUFFIXES}")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise DatasetFormatError(p, f"flow array has shape {flow.shape}", expected="H×W×2 (u, v)")
    return np.ascontiguousarray(flow, dtype=np.float32)


def read_record_flow(record: dict, t: int) -> np.ndarray:
    """``record["flow_file_names"][t]`` read and checked against the record's frame size (``DatasetFormatError``
    naming the flow file, the frame and both sizes otherwise)."""
    name = record["flow_file_names"][t]
    flow = read_flow_file(name)
    size = (int(record["height"]), int(record["width"]))
    if flow.shape[:2] != size:
        frame = record.get("file_names", [None] * (t + 1))[t]
        raise DatasetFormatError(name, f"flow is {flow.shape[1]}x{flow.shape[0]} but frame {frame} is "
                                 f"{size[1]}x{size[0]}", expected="flow files of the frame size")
    return flow
