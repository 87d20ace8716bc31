"""Checks of loaded video records made when a loader is built, so that data problems surface before training
starts instead of when a bad frame is first read (issue 15, item 8)."""
from __future__ import annotations

import logging
import os
from typing import Sequence

from PIL import Image

from vidseg.data.io.errors import DatasetFormatError

__all__ = ["check_records", "SIZE_CHECK_SAMPLE"]

logger = logging.getLogger(__name__)
SIZE_CHECK_SAMPLE = 16  # videos whose first frame's size is compared with the record (evenly spread)


def _has_objects(frames) -> bool:
    return any(bool(f) for f in frames or ())


def check_records(name: str, records: Sequence[dict], *, training: bool, sample: int = SIZE_CHECK_SAMPLE) -> None:
    """``DatasetFormatError`` (one line) for a video without frames, a frame whose size differs from its
    record's ``height``/``width`` (checked on ``sample`` videos), or — when ``training`` — a split whose records
    carry ``annotations`` but not a single object."""
    for r in records:
        if "file_names" in r and (not r["file_names"] or int(r.get("length", len(r["file_names"]))) <= 0):
            raise DatasetFormatError(f"dataset {name!r}", f"video {r.get('video_id')!r} has no frames",
                                     expected="at least one frame per video")
    if training and records and all("annotations" in r for r in records):
        if not any(_has_objects(r["annotations"]) for r in records):
            raise DatasetFormatError(f"dataset {name!r}", f"none of its {len(records)} videos has an annotated "
                                     "object", expected="a training split with annotations (is it a GT-less split?)")
    sized = [r for r in records if r.get("file_names") and "height" in r and "width" in r]
    step = max(1, len(sized) // max(1, sample))
    for r in sized[::step][:sample]:
        path = r["file_names"][0]
        if not isinstance(path, str) or not os.path.isfile(path):
            continue  # a missing frame is reported by the mapper with its own message
        try:
            with Image.open(path) as im:
                w, h = im.size
        except OSError as e:
            raise DatasetFormatError(path, f"cannot read frame ({e})", expected="a JPEG/PNG image") from None
        if (h, w) != (int(r["height"]), int(r["width"])):
            raise DatasetFormatError(path, f"frame is {w}x{h} but video {r.get('video_id')!r} of dataset {name!r} "
                                     f"records {r['width']}x{r['height']}", expected="frames of the recorded size")
