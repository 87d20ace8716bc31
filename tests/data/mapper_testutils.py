"""Hand-built tiny video records (record contract of ``docs/architecture.md``) for the mapper and loader tests."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from detectron2.structures import BoxMode

from vidseg.config import get_cfg
from vidseg.data.io.flo import write_flo
from vidseg.structures.masks import encode_mask


def small_cfg(**input_overrides):
    """A cfg with tiny sizes: no resize by default (MIN_SIZE_* = 0), no flip, no crop."""
    cfg = get_cfg()
    cfg.INPUT.MIN_SIZE_TRAIN = (0,)
    cfg.INPUT.MIN_SIZE_TEST = 0
    cfg.INPUT.RANDOM_FLIP = "none"
    for key, value in input_overrides.items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = getattr(node, p)
        setattr(node, leaf, value)
    return cfg


def block(h: int, w: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """H×W uint8 mask with ones on rows y0:y1, columns x0:x1."""
    m = np.zeros((h, w), dtype=np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def anno(obj_id: int, category: int, mask: np.ndarray, *, iscrowd: int = 0) -> dict:
    ys, xs = np.nonzero(mask)
    bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return {
        "id": obj_id,
        "category_id": category,
        "segmentation": encode_mask(mask),
        "bbox": bbox,
        "bbox_mode": BoxMode.XYWH_ABS,
        "iscrowd": iscrowd,
    }


def write_video(
    root: Path,
    frames: Sequence[np.ndarray],
    annotations: Sequence[list | None],
    *,
    video_id: int = 1,
    flows: Sequence[np.ndarray | None] | None = None,
    ext: str = "png",
) -> dict:
    """Write BGR frames (and .flo flows) under ``root`` and return the video record."""
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for t, f in enumerate(frames):
        p = root / f"{video_id:03d}_{t:03d}.{ext}"
        cv2.imwrite(str(p), f)
        names.append(str(p))
    h, w = frames[0].shape[:2]
    record = {
        "video_id": video_id,
        "file_names": names,
        "height": h,
        "width": w,
        "length": len(frames),
        "annotations": list(annotations),
    }
    if flows is not None:
        flow_names = []
        for t, fl in enumerate(flows):
            if fl is None:
                flow_names.append(None)
                continue
            p = root / f"{video_id:03d}_{t:03d}.flo"
            write_flo(p, fl)
            flow_names.append(str(p))
        record["flow_file_names"] = flow_names
    return record


def coloured_objects_video(root: Path, *, video_id: int = 1) -> tuple[dict, dict]:
    """6 frames of 40×60: object 5 (class 1, red) in every annotated frame, moving right 2 px/frame; object 7
    (class 2, green) from frame 2 on; object 9 (blue) is a crowd region; frame 3 is not annotated (None),
    frame 4 is annotated and empty ([], nothing drawn). Returns (record, {id: BGR colour})."""
    h, w, n = 40, 60, 6
    colours = {5: (0, 0, 255), 7: (0, 255, 0), 9: (255, 0, 0)}
    frames, annos = [], []
    for t in range(n):
        img = np.full((h, w, 3), 60, dtype=np.uint8)
        objs = []
        if t != 4:
            m5 = block(h, w, 4 + 2 * t, 6, 14 + 2 * t, 16)
            objs.append(anno(5, 1, m5))
            img[m5 > 0] = colours[5]
            if t >= 2:
                m7 = block(h, w, 36, 22, 50, 34)
                objs.append(anno(7, 2, m7))
                img[m7 > 0] = colours[7]
            m9 = block(h, w, 40, 2, 56, 10)
            objs.append(anno(9, 0, m9, iscrowd=1))
            img[m9 > 0] = colours[9]
        frames.append(img)
        annos.append(None if t == 3 else objs)
    return write_video(root, frames, annos, video_id=video_id), colours
