"""Frame reading with a one-line error naming the file when it is missing or corrupt."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from detectron2.data.detection_utils import read_image as _d2_read_image

from .errors import DatasetFormatError


def read_image(path: str | Path, format: str | None = "BGR") -> np.ndarray:
    """detectron2's ``read_image`` (H×W×C uint8 in ``format``, EXIF-rotated) with clear errors.

    Raises:
        DatasetFormatError: the file is missing, truncated or not an image.
    """
    try:
        return _d2_read_image(str(path), format=format)
    except FileNotFoundError as e:
        raise DatasetFormatError(path, "image file not found", expected="a frame listed by the dataset") from e
    except (OSError, SyntaxError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DatasetFormatError(path, f"corrupt or unreadable image ({reason})", expected="a valid JPEG/PNG") from e
