"""KITTI-MOTS / MOTSChallenge instance txt files.

One line per object and frame: ``frame obj_id class_id img_height img_width rle`` where ``rle`` is the COCO
compressed RLE string, ``class_id`` is 1 (car) or 2 (pedestrian), ``obj_id // 1000 == class_id`` and
``obj_id == 10000`` (class 10) marks an ignore region.
"""
from __future__ import annotations

from pathlib import Path

from vidseg.structures.masks import to_json_rle, validate_rle

from .errors import DatasetFormatError

MOTSEntry = tuple[int, int, dict]  # (obj_id, class_id, RLE {"size": [H, W], "counts": str})


def read_kitti_mots_txt(path: str | Path) -> dict[int, list[MOTSEntry]]:
    """Parse a KITTI-MOTS txt file into ``{frame: [(obj_id, class_id, rle), ...]}`` (frames in file order)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise DatasetFormatError(p, f"cannot read MOTS txt ({e.strerror})", expected="a KITTI-MOTS instance txt") from e
    out: dict[int, list[MOTSEntry]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 6:
            raise DatasetFormatError(
                f"{p}:{lineno}", f"line has {len(fields)} fields", expected="'frame obj_id class_id height width rle'"
            )
        try:
            frame, obj_id, class_id, h, w = (int(x) for x in fields[:5])
        except ValueError as e:
            raise DatasetFormatError(
                f"{p}:{lineno}", f"non-integer field ({e})", expected="5 integers then an RLE"
            ) from e
        rle = {"size": [h, w], "counts": fields[5]}
        try:
            validate_rle(rle, where=f"frame {frame} object {obj_id}")
        except ValueError as e:
            raise DatasetFormatError(f"{p}:{lineno}", str(e), expected="a COCO RLE of height*width pixels") from None
        out.setdefault(frame, []).append((obj_id, class_id, rle))
    return out


def write_kitti_mots_txt(path: str | Path, frames: dict[int, list[MOTSEntry]]) -> None:
    """Write ``{frame: [(obj_id, class_id, rle), ...]}`` in the KITTI-MOTS txt format (sorted by frame)."""
    lines = []
    for frame in sorted(frames):
        for obj_id, class_id, rle in frames[frame]:
            rle = to_json_rle(rle)
            counts = rle["counts"]
            h, w = rle["size"]
            lines.append(f"{int(frame)} {int(obj_id)} {int(class_id)} {int(h)} {int(w)} {counts}\n")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(lines))
