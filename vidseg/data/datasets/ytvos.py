"""YouTube-VOS 2018 / 2019 -> video records.

Layout under ``root`` (e.g. ``datasets/ytvos_2019``)::

    <split>/JPEGImages/<video>/00000.jpg ...   (split = train | valid; frames at 6 fps, every 5th of 30)
    <split>/Annotations/<video>/00000.png ...  indexed PNGs; train: every frame, valid: only the frames
                                               where objects first appear (holding those objects' masks)
    <split>/meta.json                          {"videos": {<video>: {"objects": {<id>: {"category", "frames"}}}}}

Objects may start late: ``vos_init`` lists, per frame, the ids first annotated there.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from vidseg.data.io.errors import DatasetFormatError, require_exists

from .common import cached_records, dataset_has_gt, list_frames, parallel_map, set_metadata
from .davis import png_sequence_record

logger = logging.getLogger(__name__)

LAYOUT = "ytvos_<year>/<train|valid>/{JPEGImages,Annotations}/<video>/ and <train|valid>/meta.json"


def read_ytvos_meta(meta_file: Path) -> dict[str, dict]:
    """``meta.json`` -> {video name: {"objects": {...}}}."""
    require_exists(meta_file, what="YouTube-VOS meta.json", layout=LAYOUT)
    try:
        data = json.loads(meta_file.read_text())
    except json.JSONDecodeError as e:
        raise DatasetFormatError(meta_file, f"invalid json ({e.msg} at line {e.lineno})", expected=LAYOUT) from e
    if not isinstance(data, dict) or "videos" not in data:
        raise DatasetFormatError(meta_file, "no 'videos' key", expected='{"videos": {<video>: {"objects": ...}}}')
    videos = data["videos"]
    if not isinstance(videos, dict):
        raise DatasetFormatError(meta_file, "'videos' is not a mapping", expected='{"videos": {<video>: {...}}}')
    return videos


def load_ytvos(
    root: str | Path,
    *,
    split: str,
    dataset_name: str | None = None,
    require_annotations: bool | None = None,
    flow_root: str | Path | None = None,
    cache: Path | None = None,
) -> list[dict]:
    """Load one YouTube-VOS split (``train`` or ``valid``).

    Args:
        root: the YouTube-VOS folder holding ``train/`` and ``valid/``.
        require_annotations: every frame needs a PNG (default: the dataset's ``has_gt``, else True for
            ``train``); otherwise frames without a PNG are ``None`` (not annotated).
        flow_root: optional folder of ``<video>/<frame stem>.flo``.
        cache: folder memoising the parsed records (reading every PNG is slow); None = no cache.

    Returns:
        Class-agnostic records (category 0) with ``vos_init``.
    """
    split_dir = require_exists(Path(root) / split, what="YouTube-VOS split folder", layout=LAYOUT)
    videos = read_ytvos_meta(split_dir / "meta.json")
    set_metadata(dataset_name, thing_classes=["object"], thing_dataset_id_to_contiguous_id={1: 0})
    if require_annotations is None:
        require_annotations = dataset_has_gt(dataset_name, default=split == "train")
    names = sorted(videos)

    def one(name: str) -> dict:
        return png_sequence_record(
            name,
            frames=list_frames(split_dir / "JPEGImages" / name, layout=LAYOUT),
            ann_dir=require_exists(split_dir / "Annotations" / name, what="annotation folder", layout=LAYOUT),
            require_all=require_annotations,
            flow_dir=None if flow_root is None else Path(flow_root) / name,
        )

    watch = [split_dir / sub / n for n in names for sub in ("JPEGImages", "Annotations")]
    watch += [split_dir / "meta.json"] + ([] if flow_root is None else [Path(flow_root)])
    key = f"ytvos:v1:{split_dir.resolve()}:{require_annotations}:{flow_root}"
    records = cached_records(cache, key=key, watch=watch, build=lambda: parallel_map(one, names))
    logger.info("Loaded %d YouTube-VOS %s videos from %s", len(records), split, split_dir)
    return records
