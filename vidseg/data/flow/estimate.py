"""Classical optical flow with OpenCV (DIS, Farneback) and its on-disk ``.flo`` cache.

No pretrained flow network can be downloaded here, so flow is either precomputed (any estimator, stored as
``.flo``/``.npy``/``.pfm`` and listed by the dataset loader as ``flow_file_names``) or estimated with OpenCV and
cached once per frame pair. Cache layout ("next to the frames")::

    <frame folder>/flow_<method>/<frame stem>.flo         flow from frame t to t+1, stored under frame t

or, with ``cache_root``, ``<cache_root>/flow_<method>/<dataset>/<video_id>/<frame stem>.flo``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
from detectron2.config import CfgNode, configurable
from tqdm import tqdm

from vidseg.data.io.image import read_image

from .io import write_flo

__all__ = ["FLOW_METHODS", "DIS_PRESETS", "FLOW_SOURCES", "estimate_flow", "cached_flow_path", "ensure_video_flow",
           "attach_flow", "FlowSource"]

FLOW_METHODS = ("dis", "farneback")
FLOW_SOURCES = ("precomputed",) + FLOW_METHODS
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def _grey(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 3:
        frame = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGR2GRAY)
    if frame.dtype != np.uint8:
        raise ValueError(f"estimate_flow: frames must be uint8 (H×W or H×W×3 BGR), got {frame.dtype}")
    return np.ascontiguousarray(frame)


def estimate_flow(frame0: np.ndarray, frame1: np.ndarray, *, method: str = "dis", preset: str = "medium") -> np.ndarray:
    """Forward flow from ``frame0`` to ``frame1`` (uint8 H×W×3 BGR or H×W grey).

    Args:
        method: ``dis`` (``cv2.DISOpticalFlow``) or ``farneback`` (``cv2.calcOpticalFlowFarneback``).
        preset: DIS preset (``ultrafast``, ``fast``, ``medium``); ignored by Farneback.
    Returns:
        H×W×2 float32 (u, v) in pixels: ``frame0[y, x]`` moves to ``(x + u, y + v)``.
    """
    a, b = _grey(frame0), _grey(frame1)
    if a.shape != b.shape:
        raise ValueError(f"estimate_flow: frames differ in size {a.shape} vs {b.shape}")
    if method == "dis":
        if preset not in DIS_PRESETS:
            raise ValueError(f"INPUT.FLOW.DIS_PRESET={preset!r}: expected one of {tuple(DIS_PRESETS)}")
        flow = cv2.DISOpticalFlow_create(DIS_PRESETS[preset]).calc(a, b, None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=4, winsize=15, iterations=5,
                                            poly_n=5, poly_sigma=1.1, flags=0)
    else:
        raise ValueError(f"flow method {method!r}: expected one of {FLOW_METHODS}")
    return np.ascontiguousarray(flow, dtype=np.float32)


def _method_dir(method: str, preset: str) -> str:
    return f"flow_{method}_{preset}" if method == "dis" else f"flow_{method}"


def cached_flow_path(
    frame_path: str | Path, *, method: str, preset: str = "medium", cache_root: str | Path | None = None,
    dataset_name: str | None = None, video_id: object = None,
) -> Path:
    """Where the flow stored under frame ``frame_path`` lives in the cache (see the module docstring)."""
    frame = Path(frame_path)
    sub = _method_dir(method, preset)
    if not cache_root:
        return frame.parent / sub / f"{frame.stem}.flo"
    video = str(video_id) if video_id is not None else frame.parent.name
    return Path(cache_root) / sub / (dataset_name or "videos") / video / f"{frame.stem}.flo"


def _write_atomic(path: Path, flow: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".flo.tmp")
    os.close(fd)
    try:
        write_flo(tmp, flow)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def ensure_video_flow(
    record: dict, *, method: str = "dis", preset: str = "medium", cache_root: str | Path | None = None,
    progress: bool = False, out_dir: str | Path | None = None,
) -> list[str | None]:
    """Flow files of every frame pair of a video record, estimating and caching the missing ones.

    Args:
        record: video record (``file_names``; ``video_id`` / ``dataset_name`` name the cache folder).
        out_dir: write ``<out_dir>/<frame stem>.flo`` instead of the cache (a dataset's ``flow_root``/<video>).
        progress: show a per-frame progress bar.
    Returns:
        ``flow_file_names``: T entries, ``None`` for the last frame.
    """
    names = list(record["file_names"])
    if not names:
        raise ValueError(f"ensure_video_flow: video {record.get('video_id')!r} has no frames")
    paths = [
        Path(out_dir) / f"{Path(f).stem}.flo" if out_dir is not None else cached_flow_path(
            f, method=method, preset=preset, cache_root=cache_root, dataset_name=record.get("dataset_name"),
            video_id=record.get("video_id"))
        for f in names[:-1]
    ]
    todo = [t for t, p in enumerate(paths) if not p.is_file()]
    bar = tqdm(total=len(todo), desc=f"flow {record.get('video_id', '')}", unit="pair", disable=not progress,
               leave=False)
    prev_t, prev_img = None, None
    for t in todo:
        img0 = prev_img if prev_t == t else read_image(names[t], "BGR")
        img1 = read_image(names[t + 1], "BGR")
        _write_atomic(paths[t], estimate_flow(img0, img1, method=method, preset=preset))
        prev_t, prev_img = t + 1, img1
        bar.update(1)
    bar.close()
    return [str(p) for p in paths] + [None]


def attach_flow(
    records: Iterable[dict], *, progress: bool = True, out_dirs: Sequence[str | Path] | None = None, **kwargs: object
) -> list[dict]:
    """``ensure_video_flow`` for every record (progress bar over videos); returns copies with
    ``flow_file_names`` set.

    Args:
        out_dirs: per record, the ``out_dir`` of :func:`ensure_video_flow` (default: the cache).
        kwargs: further :func:`ensure_video_flow` arguments (method, preset, cache_root).
    """
    records = list(records)
    if out_dirs is not None and len(out_dirs) != len(records):
        raise ValueError(f"attach_flow: {len(out_dirs)} out_dirs for {len(records)} records")
    out = []
    for i, r in enumerate(tqdm(records, desc="videos", unit="video", disable=not progress)):
        names = ensure_video_flow(r, progress=progress, out_dir=None if out_dirs is None else out_dirs[i], **kwargs)
        out.append({**r, "flow_file_names": names})
    return out


class FlowSource:
    """Where a mapper's flow comes from (``INPUT.FLOW.SOURCE``): ``precomputed`` uses only the record's
    ``flow_file_names`` (e.g. the exact flow of the synthetic data); ``dis`` / ``farneback`` keep precomputed
    flow where a record has it and otherwise estimate the whole video once and cache it (never mix estimators
    within a dataset: precompute all of it with ``datasets/prepare_flow.py``)."""

    @configurable
    def __init__(self, *, source: str = "precomputed", preset: str = "medium", cache_root: str = "") -> None:
        if source not in FLOW_SOURCES:
            raise ValueError(f"INPUT.FLOW.SOURCE={source!r}: expected one of {FLOW_SOURCES}")
        if preset not in DIS_PRESETS:
            raise ValueError(f"INPUT.FLOW.DIS_PRESET={preset!r}: expected one of {tuple(DIS_PRESETS)}")
        self.source = source
        self.preset = preset
        self.cache_root = cache_root or None

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        f = cfg.INPUT.FLOW
        return {"source": f.SOURCE, "preset": f.DIS_PRESET, "cache_root": f.CACHE_ROOT}

    def prepare(self, record: dict) -> dict:
        """The record with ``flow_file_names`` from this source (unchanged when it already has them)."""
        if self.source == "precomputed" or record.get("flow_file_names") is not None:
            return record
        names = ensure_video_flow(record, method=self.source, preset=self.preset, cache_root=self.cache_root)
        return {**record, "flow_file_names": names}
