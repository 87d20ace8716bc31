"""Helpers for the evaluation tests: tiny masks, video records, temporary dataset registration."""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog

from vidseg.structures.video_instances import VideoInstances
from vidseg.structures.masks import encode_mask

_counter = itertools.count()


def box(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """H×W uint8 mask with rows [y0, y1) and columns [x0, x1) set."""
    m = np.zeros((h, w), dtype=np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def record(
    video_id: Any,
    frames: Sequence[Mapping[int, tuple[int, np.ndarray]] | None],
    h: int,
    w: int,
    *,
    crowd: Sequence[int] = (),
    **extra: Any,
) -> dict:
    """A video record: ``frames[t]`` maps object id -> (contiguous category, H×W mask), or None (not annotated)."""
    anns = []
    for objs in frames:
        if objs is None:
            anns.append(None)
            continue
        anns.append([
            {"id": i, "category_id": c, "segmentation": encode_mask(m), "bbox": [0, 0, 1, 1], "bbox_mode": 1,
             "iscrowd": int(i in crowd)}
            for i, (c, m) in objs.items() if np.asarray(m).any()
        ])
    rec = {
        "video_id": video_id,
        "file_names": [f"/nonexistent/{video_id}/{t:05d}.jpg" for t in range(len(frames))],
        "height": h,
        "width": w,
        "length": len(frames),
        "annotations": anns,
    }
    rec.update(extra)
    return rec


def instances(
    h: int, w: int, tracks: Sequence[tuple[int, float, Sequence[np.ndarray | None]]], *, track_ids: Sequence[int] | None = None
) -> VideoInstances:
    """VideoInstances from (label, score, per-frame masks or None) triples covering every frame."""
    t = len(tracks[0][2]) if tracks else 0
    return VideoInstances(
        image_size=(h, w),
        frame_idx=list(range(t)),
        track_ids=list(track_ids) if track_ids is not None else list(range(1, len(tracks) + 1)),
        scores=[float(s) for _, s, _ in tracks],
        labels=[int(c) for c, _, _ in tracks],
        masks=[[None if m is None else encode_mask(m) for m in ms] for _, _, ms in tracks],
    )


@contextmanager
def registered(records: Sequence[dict], **metadata: Any) -> Iterator[str]:
    """Register ``records`` under a fresh dataset name for the duration of the block."""
    name = f"_test_eval_{next(_counter)}"
    DatasetCatalog.register(name, lambda: [dict(r) for r in records])
    MetadataCatalog.get(name).set(**metadata)
    try:
        yield name
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def run_evaluator(cls: type, name: str, predictions: Mapping[Any, VideoInstances], output_dir: str | None = None,
                  **kwargs: Any) -> dict:
    """reset / process (one video per call) / evaluate, not distributed."""
    ev = cls(name, output_dir, distributed=False, **kwargs)
    ev.reset()
    for vid, vi in predictions.items():
        ev.process([{"video_id": vid}], [{"video_instances": vi}])
    return ev.evaluate()
