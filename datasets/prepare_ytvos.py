#!/usr/bin/env python
"""YouTube-VOS frame lists: the annotated frames (``meta.json``) and all frames (``<split>_all_frames``), checked.

The YouTube-VOS package holds the 6 fps frames in ``<split>/JPEGImages`` (every 5th frame of the video: the ones
``meta.json`` lists per object and the server scores) and, for ``valid``, every 30 fps frame in
``valid_all_frames/JPEGImages``. This writes ``<root>/<split>/frame_lists.json``::

    {"annotated": {<video>: [<frame stem>, ...]},   # union of the objects' "frames" in meta.json
     "listed":    {<video>: [...]},                 # frames present in <split>/JPEGImages
     "all":       {<video>: [...]}}                 # frames in <split>_all_frames/JPEGImages (when present)

and fails with one line naming the first annotated frame that has no image.

    python datasets/prepare_ytvos.py [--root datasets/ytvos_2019] [--split train --split valid]

Idempotent: the json is rewritten only when its content changes (temporary file + rename).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from vidseg.data.prepare import run_prepare, write_if_changed
from vidseg.data.datasets.common import IMAGE_EXTS, natural_key
from vidseg.data.datasets.ytvos import read_ytvos_meta
from vidseg.data.io import DatasetFormatError


def _stems(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return [p.stem for p in sorted(folder.iterdir(), key=natural_key) if p.suffix.lower() in IMAGE_EXTS]


def frame_lists(root: Path, split: str) -> dict[str, dict[str, list[str]]]:
    split_dir = root / split
    videos = read_ytvos_meta(split_dir / "meta.json")
    out: dict[str, dict[str, list[str]]] = {"annotated": {}, "listed": {}, "all": {}}
    for vid in sorted(videos):
        objects = videos[vid].get("objects", {})
        annotated = sorted({str(f) for o in objects.values() for f in o.get("frames", ())}, key=lambda s: (len(s), s))
        listed = _stems(split_dir / "JPEGImages" / vid)
        missing = sorted(set(annotated) - set(listed))
        if missing:
            raise DatasetFormatError(split_dir / "JPEGImages" / vid / f"{missing[0]}.jpg",
                                     f"frame listed in meta.json is missing ({len(missing)} of {len(annotated)})")
        out["annotated"][vid] = annotated
        out["listed"][vid] = listed
        every = _stems(root / f"{split}_all_frames" / "JPEGImages" / vid)
        if every:
            out["all"][vid] = every
    return out


def prepare_split(root: Path, split: str) -> str:
    lists = frame_lists(root, split)
    path = root / split / "frame_lists.json"
    changed = write_if_changed(path, json.dumps(lists, indent=0, sort_keys=True).encode())
    n_ann = sum(len(v) for v in lists["annotated"].values())
    return (f"{split}: {len(lists['annotated'])} videos, {n_ann} annotated frames, {len(lists['all'])} videos with "
            f"all frames -> {path} ({'written' if changed else 'up to date'})")


def main(argv: list[str] | None = None) -> int:
    return run_prepare(argv, doc=__doc__, subdir="ytvos_2019", work=prepare_split, splits=("train", "valid"))


if __name__ == "__main__":
    sys.exit(main())
