#!/usr/bin/env python
"""FBMS-59 ground truth (``.ppm`` / ``.pgm`` region maps + ``Def.dat``) -> indexed label PNGs for evaluation.

For each sequence, every annotated frame listed in ``GroundTruth/<seq>Def.dat`` becomes
``<root>/labels/<split>/<seq>/<frame stem>.png`` (0 = background, k = region k of ``Def.dat``), with the official
colour rule (``.ppm``: R*65536 + G*256 + B, ``.pgm``: the grey value; colours not in the table = background).
That tree is what ``python -m vidseg.evaluation fbms --gt <root>/labels/<split> --pred ...`` reads. The training
loaders read the original files directly and need no conversion.

    python datasets/prepare_fbms.py [--root datasets/FBMS] [--split Trainingset --split Testset]

Idempotent and resumable: a PNG newer than its source region map and ``Def.dat`` is kept; each PNG is written to a
temporary name and renamed, so an interrupted run leaves no partial file.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import vidseg.data  # noqa: F401  (registers the datasets; imports the loaders)
from vidseg.data.datasets.fbms import read_fbms_def, read_fbms_regions, unique_stems
from vidseg.data.datasets.common import list_frames
from vidseg.data.io import DatasetFormatError, write_indexed_png
from vidseg.data.prepare import run_prepare


def convert_sequence(seq_dir: Path, out_dir: Path) -> tuple[int, int]:
    """Write the label PNGs of one sequence; returns (written, kept)."""
    frames = unique_stems(list_frames(seq_dir, layout="FBMS/<split>/<seq>/<frames>"))
    defs = sorted((seq_dir / "GroundTruth").glob("*Def.dat"))
    if len(defs) != 1:
        raise DatasetFormatError(seq_dir / "GroundTruth", f"{len(defs)} *Def.dat files", expected="exactly one")
    gt = read_fbms_def(defs[0])
    written = kept = 0
    for f, gt_file in gt.frames:
        if not 0 <= f < len(frames):
            raise DatasetFormatError(defs[0], f"annotated frame {f} but {len(frames)} frames in {seq_dir}")
        out = out_dir / f"{frames[f].stem}.png"
        newest_src = max(gt_file.stat().st_mtime, defs[0].stat().st_mtime) if gt_file.is_file() else 0
        if out.is_file() and out.stat().st_mtime >= newest_src:
            kept += 1
            continue
        labels = read_fbms_regions(gt_file, gt.colors)
        if labels.max(initial=0) > 255:
            raise DatasetFormatError(defs[0], f"{len(gt.colors)} regions", expected="at most 256 for a PNG")
        tmp = out.with_name(f".{out.stem}.{os.getpid()}.png")
        write_indexed_png(tmp, labels)
        os.replace(tmp, out)
        written += 1
    return written, kept


def prepare_split(root: Path, split: str) -> str:
    split_dir = root / split
    if not split_dir.is_dir():
        raise DatasetFormatError(split_dir, "FBMS split folder not found", expected="FBMS/<Trainingset|Testset>")
    written = kept = 0
    for seq in sorted(d for d in split_dir.iterdir() if d.is_dir()):
        w, k = convert_sequence(seq, root / "labels" / split / seq.name)
        written, kept = written + w, kept + k
    return f"{split}: {written} label PNGs written, {kept} up to date -> {root / 'labels' / split}"


def main(argv: list[str] | None = None) -> int:
    return run_prepare(argv, doc=__doc__, subdir="FBMS", work=prepare_split, splits=("Trainingset", "Testset"))


if __name__ == "__main__":
    sys.exit(main())
