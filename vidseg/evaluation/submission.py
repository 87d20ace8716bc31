"""Server submission files: YouTube-VIS ``results.json`` (+ zip for CodaLab) and palette-PNG trees (+ zip) for
DAVIS / YouTube-VOS. (KITTI-MOTS txt files are written by :class:`~vidseg.evaluation.mots.MOTSEvaluator`.)"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from vidseg.structures.video_instances import VideoInstances

from .base import track_rles
from vidseg.structures.masks import RLE, to_json_rle


def ytvis_results(
    records: Sequence[Mapping],
    predictions: Mapping[Any, VideoInstances],
    contiguous_to_dataset: Mapping[int, int] | None = None,
) -> list[dict]:
    """The YouTube-VIS server format: one ``{video_id, score, category_id, segmentations[T]}`` per track.

    ``segmentations`` has one RLE (counts as str) or ``None`` per frame of the video; ``category_id`` is the
    dataset's id (``contiguous_to_dataset``; identity when None).
    """
    out = []
    for rec in records:
        vi = predictions.get(rec["video_id"])
        if vi is None:
            continue
        rows = track_rles(vi, len(rec["file_names"]))
        for label, score, segs in zip(vi.labels, vi.scores, rows):
            if label < 0:
                raise ValueError(
                    f"video {rec['video_id']!r}: a class-agnostic track (label -1) cannot be scored by YouTube-VIS AP"
                )
            if contiguous_to_dataset is not None and int(label) not in contiguous_to_dataset:
                raise ValueError(f"video {rec['video_id']!r}: label {label} is not a class of the dataset "
                                 f"(contiguous ids {sorted(contiguous_to_dataset)})")
            cat = int(label) if contiguous_to_dataset is None else int(contiguous_to_dataset[int(label)])
            out.append({"video_id": rec["video_id"], "score": float(score), "category_id": cat,
                        "segmentations": [None if r is None else to_json_rle(r) for r in segs]})
    return out


def write_ytvis_submission(output_dir: str | os.PathLike, results: list[dict]) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.zip`` (holding ``results.json`` at its root, as CodaLab expects)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(results))
    zip_path = out / "results.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(json_path, arcname="results.json")
    return json_path, zip_path


def write_png_tree(root: str | os.PathLike, video_name: str, frames: Iterable[tuple[str, np.ndarray]]) -> list[Path]:
    """Write ``<root>/<video_name>/<frame name>.png`` palette PNGs (DAVIS palette) for (name, H×W labels)."""
    from vidseg.data.io.png import write_indexed_png

    paths = []
    for name, labels in frames:
        if labels.size and labels.max() > 255:
            raise ValueError(
                f"{video_name}/{name}: label {int(labels.max())} does not fit an indexed PNG (object ids must be <= 255)"
            )
        p = Path(root) / video_name / f"{name}.png"
        write_indexed_png(p, labels)
        paths.append(p)
    return paths


def zip_tree(src_dir: str | os.PathLike, zip_path: str | os.PathLike, arc_root: str) -> Path:
    """Zip every file under ``src_dir`` as ``<arc_root>/<relative path>`` (e.g. ``Annotations/<video>/x.png``)."""
    src = Path(src_dir)
    zip_path = Path(zip_path)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, arcname=str(Path(arc_root) / f.relative_to(src)))
    return zip_path


def video_folder_name(record: Mapping) -> str:
    """Folder name of a video in server trees: the parent folder of its frames (video_id when unavailable)."""
    files = record.get("file_names") or []
    parent = Path(files[0]).parent.name if files else ""
    return parent or str(record["video_id"])


def frame_names(record: Mapping) -> list[str]:
    """Per-frame file stems (``00000`` for ``.../00000.jpg``)."""
    return [Path(f).stem for f in record["file_names"]]
