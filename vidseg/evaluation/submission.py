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


# ------------------------------------------------------------------------------------ server archives (vidseg.submit)
YTVIS_KEYS = ("video_id", "score", "category_id", "segmentations")


def check_ytvis_results(results: object, source: str, *, num_classes: int,
                        videos: Mapping[Any, tuple[int, int, int]] | None = None) -> list[dict]:
    """Validate a YouTube-VIS / OVIS results list and return it in the server schema: exactly ``YTVIS_KEYS`` per
    entry, int ids, float score, one ``{size, counts: str}`` RLE or ``None`` per frame.

    ``num_classes``: the server's category ids are 1..num_classes. ``videos`` (video id -> (frames, H, W), from
    the split's json) also checks ids, lengths and mask sizes. Errors name ``source`` and the entry.
    """
    from vidseg.structures.masks import validate_rle

    if not isinstance(results, list):
        raise ValueError(f"{source}: expected a json list of {{video_id, score, category_id, segmentations}}")
    out = []
    for i, res in enumerate(results):
        where = f"{source}: entry {i}"
        if not isinstance(res, dict) or any(k not in res for k in YTVIS_KEYS):
            raise ValueError(f"{where}: needs the keys {list(YTVIS_KEYS)}")
        vid, cat, score, segs = (res[k] for k in ("video_id", "category_id", "score", "segmentations"))
        if not isinstance(vid, int) or not isinstance(cat, int) or isinstance(cat, bool):
            raise ValueError(f"{where}: video_id and category_id must be ints, got {vid!r}, {cat!r}")
        if not 1 <= cat <= num_classes:
            raise ValueError(f"{where}: category_id {cat} outside the server's ids 1..{num_classes}")
        if not isinstance(score, (int, float)) or not np.isfinite(score):
            raise ValueError(f"{where}: score must be a finite number, got {score!r}")
        if not isinstance(segs, list) or not segs:
            raise ValueError(f"{where}: 'segmentations' must be a non-empty list (one RLE or null per frame)")
        if videos is not None:
            if vid not in videos:
                raise ValueError(f"{where}: video_id {vid} is not a video of the split")
            if len(segs) != videos[vid][0]:
                raise ValueError(f"{where}: {len(segs)} segmentations for video {vid} of {videos[vid][0]} frames")
        sizes = set()
        for t, s in enumerate(segs):
            if s is not None:
                validate_rle(s, f"{where}, frame {t}")
                if not isinstance(s["counts"], (str, bytes)):
                    raise ValueError(f"{where}, frame {t}: counts must be compressed (a string), not a list")
                sizes.add((int(s["size"][0]), int(s["size"][1])))
        if len(sizes) > 1 or (videos is not None and sizes and sizes != {tuple(videos[vid][1:])}):
            raise ValueError(f"{where}: mask sizes {sorted(sizes)}; masks must be at the video's original size")
        out.append({"video_id": vid, "score": float(score), "category_id": cat,
                    "segmentations": [None if s is None else to_json_rle(s) for s in segs]})
    return out


def ytvis_split_videos(json_file: str | os.PathLike) -> dict[int, tuple[int, int, int]]:
    """video id -> (frames, height, width) of a YouTube-VIS / OVIS split json (annotations not needed)."""
    try:
        data = json.loads(Path(json_file).read_text())
        return {int(v["id"]): (len(v["file_names"]), int(v["height"]), int(v["width"])) for v in data["videos"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{json_file}: cannot read the split's 'videos' (id, file_names, height, width): {e}") from e


def write_ytvis_archive(results: list[dict], out_zip: str | os.PathLike) -> Path:
    """The CodaLab archive of YouTube-VIS 2019/2021 and OVIS: ``results.json`` at the zip root, no folder."""
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("results.json", json.dumps(results))
    return out_zip


def find_png_tree(results_dir: str | os.PathLike) -> Path:
    """The folder holding ``<video>/<frame>.png``: ``results_dir/Annotations`` (the VOS evaluator's output) when it
    exists, else ``results_dir`` itself."""
    root = Path(results_dir)
    if (root / "Annotations").is_dir():
        root = root / "Annotations"
    if not root.is_dir() or not any(p.is_dir() and any(p.glob("*.png")) for p in root.iterdir()):
        raise FileNotFoundError(f"{results_dir}: no <video>/<frame>.png folders (nor Annotations/<video>/...)")
    return root


def write_png_archive(png_root: str | os.PathLike, out_zip: str | os.PathLike, arc_root: str,
                      frames_root: str | os.PathLike | None = None) -> tuple[Path, int]:
    """Re-encode every ``<png_root>/<video>/<frame>.png`` as a DAVIS-palette ('P' mode) PNG inside ``out_zip``
    under ``<arc_root>/<video>/`` (``arc_root`` "" = video folders at the zip root, as DAVIS expects). With
    ``frames_root`` (the split's ``JPEGImages`` folder) every video and frame image there must have a PNG of the
    same size. Returns (zip path, number of PNGs)."""
    import io

    from PIL import Image

    from vidseg.data.io.png import read_indexed_png, write_indexed_png

    root = Path(png_root)
    videos = sorted(p for p in root.iterdir() if p.is_dir())
    if frames_root is not None:
        _check_frame_coverage(root, Path(frames_root))
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with zipfile.ZipFile(out_zip, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for vdir in videos:
            for png in sorted(vdir.glob("*.png")):
                labels = read_indexed_png(png)
                buf = io.BytesIO()
                write_indexed_png(buf, labels)
                Image.open(io.BytesIO(buf.getvalue())).verify()
                zf.writestr("/".join(p for p in (arc_root, vdir.name, png.name) if p), buf.getvalue())
                count += 1
    return out_zip, count


def _check_frame_coverage(png_root: Path, frames_root: Path) -> None:
    from PIL import Image

    if not frames_root.is_dir():
        raise FileNotFoundError(f"{frames_root}: frames folder not found (expected <folder>/<video>/<frame>.jpg)")
    for vdir in sorted(p for p in frames_root.iterdir() if p.is_dir()):
        for img in sorted(vdir.glob("*.jpg")):
            png = png_root / vdir.name / f"{img.stem}.png"
            if not png.is_file():
                raise FileNotFoundError(f"{png}: missing prediction (one PNG per frame of {vdir} expected)")
            with Image.open(img) as a, Image.open(png) as b:
                if a.size != b.size:
                    raise ValueError(f"{png}: size {b.size[::-1]} differs from its frame {img} {a.size[::-1]}")
