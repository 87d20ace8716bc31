"""Indexed (palette) PNGs as used by DAVIS / YouTube-VOS annotations."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DatasetFormatError


def davis_palette(num_colors: int = 256) -> np.ndarray:
    """The DAVIS / PASCAL-VOC colour map: ``num_colors``×3 uint8 (index 0 black, 1 (128,0,0), 2 (0,128,0), ...)."""
    idx = np.arange(num_colors)
    pal = np.zeros((num_colors, 3), dtype=np.int64)
    for bit in range(8):
        for ch in range(3):
            pal[:, ch] |= ((idx >> (3 * bit + ch)) & 1) << (7 - bit)
    return pal.astype(np.uint8)


def read_indexed_png(path: str | Path) -> np.ndarray:
    """Read a label PNG as H×W uint8 indices.

    Palette ('P') and grey ('L') images give their stored values; an RGB(A) image is an error because its
    labels are ambiguous (DAVIS / YTVOS annotations are always indexed).
    """
    p = Path(path)
    try:
        with Image.open(p) as img:
            img.load()
            mode = img.mode
            arr = np.array(img)
    except (OSError, SyntaxError, ValueError) as e:
        raise DatasetFormatError(p, f"cannot read annotation PNG ({e})", expected="an indexed PNG") from e
    if mode == "1":
        arr = arr.astype(np.uint8)
    elif mode not in ("P", "L"):
        raise DatasetFormatError(p, f"annotation PNG has mode {mode}", expected="an indexed ('P') or grey ('L') PNG")
    return arr.astype(np.uint8, copy=False)


def png_mode(path: str | Path) -> str:
    """The PIL mode of an image file (``P`` palette, ``L`` grey, ...), read from its header only."""
    try:
        with Image.open(path) as img:
            return img.mode
    except (OSError, SyntaxError, ValueError) as e:
        raise DatasetFormatError(Path(path), f"cannot read annotation PNG ({e})", expected="an indexed PNG") from e


def write_indexed_png(path, labels: np.ndarray, palette: np.ndarray | None = None) -> None:
    """Write H×W integer labels (0..255) as a palette PNG (default palette: :func:`davis_palette`) to a path or a
    binary file object."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"write_indexed_png({path}): labels must be H×W, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(
            f"write_indexed_png({path}): labels must lie in [0, 255], got [{labels.min()}, {labels.max()}]"
        )
    pal = davis_palette() if palette is None else np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    h, w = labels.shape
    img = Image.frombytes("P", (w, h), np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    img.putpalette(pal.reshape(-1).tolist())
    if hasattr(path, "write"):
        img.save(path, format="PNG")
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    img.save(p)
