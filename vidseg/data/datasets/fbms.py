"""FBMS-59 (Freiburg-Berkeley Motion Segmentation) -> video records with sparse ground truth.

Layout under ``root`` (``datasets/FBMS``)::

    <Trainingset|Testset>/<seq>/<seq>_01.jpg ...          frames (sorted naturally; frame f = f-th file, 0-based)
    <Trainingset|Testset>/<seq>/GroundTruth/<seq>Def.dat  definition file (below)
    <Trainingset|Testset>/<seq>/GroundTruth/*.ppm|pgm|png region maps of the annotated frames

``Def.dat`` (layout below) lists the region colours (region 0 = background; colour = R*65536 + G*256 + B for a
``.ppm``, the grey value itself for a ``.pgm``, as the official evaluation reads them), a confusion-penalty
matrix, the number of frames and, per annotated frame, its number and GT file name. Objects are the
non-background regions (class-agnostic, id = region index)::

    Ground truth definition file; do not change!

    Total number of regions:
    3
    Scale of region 0:
    0
    Scale of region 1:
    16711680
    ...
    Confusion penality matrix:
    0 1 1
    ...
    Total number of frames in this shot:
    20
    Total number of labeled frames for this shot:
    4
    Frame number:
    0
    File name:
    cars1_01.ppm
    Input file name:
    cars1_01.jpg
    ...

A bare colour line without its ``Scale of region k:`` label is accepted too. A folder holding a frame in two
formats (``cars1_01.ppm`` and ``cars1_01.jpg``) lists it once (``.jpg`` preferred).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vidseg.data.io.errors import DatasetFormatError, require_exists

from .common import entries_from_label_map, flow_file_names, list_frames, set_metadata

logger = logging.getLogger(__name__)

LAYOUT = "FBMS/<Trainingset|Testset>/<seq>/{frames, GroundTruth/<seq>Def.dat + region maps}"
FRAME_EXT_PREFERENCE = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")


@dataclass(kw_only=True)
class FBMSGroundTruth:
    """Parsed ``Def.dat``: ``colors[r]`` is the colour code of region r; ``frames`` = [(frame index, file)]."""

    colors: list[int]
    num_frames: int
    frames: list[tuple[int, Path]]


class _Lines:
    """Non-empty stripped lines of a Def.dat with label checks that raise one-line errors."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        self.lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        self.i = 0

    def next(self, what: str) -> str:
        if self.i >= len(self.lines):
            raise DatasetFormatError(self.path, f"file ends before {what}", expected="an FBMS ground-truth Def.dat")
        self.i += 1
        return self.lines[self.i - 1]

    def peek(self) -> str:
        return self.lines[self.i] if self.i < len(self.lines) else ""

    def label(self, prefix: str) -> None:
        line = self.next(f"'{prefix}'")
        if not line.lower().startswith(prefix.lower()):
            raise DatasetFormatError(self.path, f"line {line!r} found where {prefix!r} was expected",
                                     expected="an FBMS ground-truth Def.dat")

    def integer(self, what: str) -> int:
        line = self.next(what)
        try:
            return int(line.split()[0])
        except ValueError as e:
            raise DatasetFormatError(self.path, f"{what}: {line!r} is not an integer") from e


def read_fbms_def(def_file: str | Path) -> FBMSGroundTruth:
    """Parse an FBMS ``<seq>Def.dat`` (GT file paths are resolved next to it)."""
    p = require_exists(def_file, what="FBMS definition file", layout=LAYOUT)
    lines = _Lines(path=p)
    lines.label("Ground truth definition file")
    lines.label("Total number of regions")
    num_regions = lines.integer("number of regions")
    colors = []
    for r in range(num_regions):
        if lines.peek().lower().startswith("scale of region"):
            lines.next(f"'Scale of region {r}:'")
        colors.append(lines.integer(f"colour of region {r}"))
    lines.label("Confusion penality matrix")
    for r in range(num_regions):
        lines.next(f"confusion matrix row {r}")
    lines.label("Total number of frames")
    num_frames = lines.integer("number of frames")
    lines.label("Total number of labeled frames")
    frames = []
    for _ in range(lines.integer("number of labeled frames")):
        lines.label("Frame number")
        f = lines.integer("frame number")
        lines.label("File name")
        name = lines.next("GT file name")
        lines.label("Input file name")
        lines.next("input file name")
        frames.append((f, p.parent / name))
    return FBMSGroundTruth(colors=colors, num_frames=num_frames, frames=sorted(frames))


def write_fbms_def(
    def_file: str | Path, *, colors: list[int], num_frames: int, frames: list[tuple[int, str, str]]
) -> None:
    """Write a ``Def.dat`` in the official layout: ``frames`` = [(frame index, GT file name, input frame name)]."""
    r = len(colors)
    out = ["Ground truth definition file; do not change!", "", "Total number of regions:", str(r)]
    for k, c in enumerate(colors):
        out += [f"Scale of region {k}:", str(c)]
    out += ["", "Confusion penality matrix:"]
    out += [" ".join("0" if i == j else "1" for j in range(r)) for i in range(r)]
    out += ["", "Total number of frames in this shot:", str(num_frames)]
    out += ["Total number of labeled frames for this shot:", str(len(frames))]
    for f, name, input_name in frames:
        out += ["Frame number:", str(f), "File name:", name, "Input file name:", input_name]
    p = Path(def_file)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(out) + "\n")


def read_fbms_regions(gt_file: Path, colors: list[int]) -> np.ndarray:
    """H×W region-index map of one GT image; colours missing from the table count as background (0)."""
    require_exists(gt_file, what="FBMS ground-truth image", layout=LAYOUT)
    try:
        with Image.open(gt_file) as img:
            arr = np.asarray(img.convert("RGB") if img.mode not in ("L", "I", "I;16") else img).astype(np.int64)
    except (OSError, SyntaxError, ValueError) as e:
        raise DatasetFormatError(gt_file, f"cannot read ground-truth image ({e})", expected="a .ppm/.pgm/.png") from e
    # .ppm / colour images: R*65536 + G*256 + B; .pgm / grey images: the grey value itself (the official rule)
    codes = arr[..., 0] * 65536 + arr[..., 1] * 256 + arr[..., 2] if arr.ndim == 3 else arr
    regions = np.zeros(codes.shape, dtype=np.int32)
    for r, c in enumerate(colors):
        if r > 0:
            regions[codes == c] = r
    return regions


def unique_stems(frames: list[Path]) -> list[Path]:
    """One file per frame stem (a frame stored as ``.ppm`` and ``.jpg`` counts once; ``.jpg`` preferred)."""
    best: dict[str, Path] = {}
    rank = {e: i for i, e in enumerate(FRAME_EXT_PREFERENCE)}
    for f in frames:
        old = best.get(f.stem)
        if old is None or rank.get(f.suffix.lower(), 99) < rank.get(old.suffix.lower(), 99):
            best[f.stem] = f
    keep = set(best.values())
    return [f for f in frames if f in keep]


def load_fbms(
    root: str | Path, *, split: str, dataset_name: str | None = None, flow_root: str | Path | None = None
) -> list[dict]:
    """Load one FBMS split (``Trainingset`` or ``Testset``).

    Returns:
        Records whose ``annotations[t]`` is ``None`` except on the annotated frames listed in ``eval_frames``.
    """
    split_dir = require_exists(Path(root) / split, what="FBMS split folder", layout=LAYOUT)
    set_metadata(dataset_name, thing_classes=["object"], thing_dataset_id_to_contiguous_id={1: 0})
    records = []
    for seq_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
        frames = unique_stems(list_frames(seq_dir, layout=LAYOUT))
        gt_dir = require_exists(seq_dir / "GroundTruth", what="FBMS GroundTruth folder", layout=LAYOUT)
        def_file = gt_dir / f"{seq_dir.name}Def.dat"
        if not def_file.is_file():
            found = sorted(gt_dir.glob("*.dat"))
            def_file = found[0] if len(found) == 1 else def_file
        gt = read_fbms_def(def_file)
        annotations: list[list[dict] | None] = [None] * len(frames)
        height = width = None
        for f, gt_file in gt.frames:
            if not 0 <= f < len(frames):
                raise DatasetFormatError(
                    def_file, f"annotated frame {f} but {seq_dir} has {len(frames)} frames",
                    expected="0-based frame numbers below the frame count",
                )
            regions = read_fbms_regions(gt_file, gt.colors)
            height, width = regions.shape
            annotations[f] = entries_from_label_map(regions, ignore_ids=(0,))
        if height is None:
            raise DatasetFormatError(def_file, "no annotated frame", expected="at least one 'Frame number' entry")
        if gt.num_frames != len(frames):
            logger.warning("%s: Def.dat says %d frames, %s holds %d", def_file, gt.num_frames, seq_dir, len(frames))
        record = {
            "video_id": seq_dir.name,
            "file_names": [str(f) for f in frames],
            "height": int(height),
            "width": int(width),
            "length": len(frames),
            "annotations": annotations,
            "eval_frames": [f for f, _ in gt.frames],
        }
        if flow_root is not None:
            flows = flow_file_names(Path(flow_root) / seq_dir.name, record["file_names"])
            if flows is not None:
                record["flow_file_names"] = flows
        records.append(record)
    if not records:
        raise DatasetFormatError(split_dir, "no sequence folders", expected=LAYOUT)
    logger.info("Loaded %d FBMS %s sequences from %s", len(records), split, split_dir)
    return records
