"""DAVIS 2016 / 2017 (semi-supervised layout) -> video records.

Layout under ``root``::

    JPEGImages/<res>/<seq>/00000.jpg ...
    Annotations/<res>/<seq>/00000.png ...     indexed PNGs, 0 = background, k = object k, 255 = void
    ImageSets/<year>/<split>.txt              one sequence name per line
                                              (DAVIS-2016 package: ImageSets/480p/<split>.txt with path pairs)

The two packages differ and are told apart by the PNG mode:

- DAVIS-2017 package (palette ``P`` PNGs): 0 background, k object k, 255 void. The 2016 task (binary) merges
  objects 1..254 into object 1; void stays void (``ignore``), never foreground.
- DAVIS-2016 package (grey ``L`` PNGs, 0 / 255; split lists ``ImageSets/480p/<split>.txt``): every non-zero
  pixel is the one object (id 1), there is no void; the ``_instance`` variant loads that one object too.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vidseg.data.io.errors import DatasetFormatError, require_exists
from vidseg.data.io.png import png_mode, read_indexed_png

from .common import (
    VOID_LABEL,
    cached_records,
    dataset_has_gt,
    entries_from_label_map,
    first_appearance,
    flow_file_names,
    list_frames,
    parallel_map,
    set_metadata,
    void_rle,
)

logger = logging.getLogger(__name__)

LAYOUT = "DAVIS/{JPEGImages,Annotations}/480p/<seq>/ and DAVIS/ImageSets/<year>/<split>.txt"


def read_davis_split(root: Path, year: int | str, split: str, resolution: str = "480p") -> list[str]:
    """Sequence names of ``ImageSets/<year>/<split>.txt`` (or the DAVIS-2016 ``ImageSets/<res>/<split>.txt``)."""
    lst = root / "ImageSets" / str(year) / f"{split}.txt"
    if not lst.is_file():
        alt = root / "ImageSets" / resolution / f"{split}.txt"
        if str(year) == "2016" and alt.is_file():
            parts = [line.split()[0].strip("/").split("/") for line in alt.read_text().splitlines() if line.strip()]
            if any(len(p) < 2 for p in parts):
                raise DatasetFormatError(
                    alt, "a line is not a frame path", expected="'/JPEGImages/480p/<seq>/<frame>.jpg ...'"
                )
            return list(dict.fromkeys(p[-2] for p in parts))
        require_exists(lst, what="DAVIS split list", layout=LAYOUT)
    seqs = [s.strip() for s in lst.read_text().splitlines() if s.strip()]
    if not seqs:
        raise DatasetFormatError(lst, "split list is empty", expected="one sequence name per line")
    return seqs


def load_davis(
    root: str | Path,
    *,
    year: int,
    split: str,
    resolution: str = "480p",
    binary: bool | None = None,
    dataset_name: str | None = None,
    require_annotations: bool | None = None,
    flow_root: str | Path | None = None,
    cache: Path | None = None,
    late_objects: bool = False,
) -> list[dict]:
    """Load one DAVIS split.

    Args:
        root: the DAVIS folder.
        year: 2016 or 2017 (selects ``ImageSets/<year>``).
        binary: merge all objects into one (default: True for 2016, the DAVIS-2016 task).
        split: ``train``, ``val`` or ``test-dev`` (a list file under ``ImageSets/<year>``).
        require_annotations: every frame needs a PNG when True (default: the dataset's ``has_gt``, else True);
            otherwise frames without a PNG get ``None`` (test-dev has only first-frame masks).
        flow_root: optional folder of ``<seq>/<frame stem>.flo``.
        cache: folder memoising the parsed records (reading every PNG is slow); None = no cache.
        late_objects: ``vos_init`` lists every object at its first annotated frame; default (the DAVIS
            semi-supervised protocol): only the objects of the first frame.

    Returns:
        Records with ``vos_init`` ({frame: ids given there}); void (255) pixels go to ``ignore[T]``.
    """
    root = Path(root)
    require_exists(root, what="DAVIS root", layout=LAYOUT)
    set_metadata(dataset_name, thing_classes=["object"], thing_dataset_id_to_contiguous_id={1: 0})
    if require_annotations is None:
        require_annotations = dataset_has_gt(dataset_name, default=True)
    seqs = read_davis_split(root, year, split, resolution)
    is_binary = int(year) == 2016 if binary is None else binary

    def one(seq: str) -> dict:
        return png_sequence_record(
            seq,
            frames=list_frames(root / "JPEGImages" / resolution / seq, layout=LAYOUT),
            ann_dir=require_exists(root / "Annotations" / resolution / seq, what="annotation folder", layout=LAYOUT),
            require_all=require_annotations,
            binary=is_binary,
            flow_dir=None if flow_root is None else Path(flow_root) / seq,
            first_frame_only=not late_objects,
        )

    watch = [root / sub / resolution / s for s in seqs for sub in ("JPEGImages", "Annotations")]
    watch += [] if flow_root is None else [Path(flow_root)]
    key = f"davis:v2:{root.resolve()}:{year}:{split}:{resolution}:{is_binary}:{require_annotations}:{flow_root}"
    key += f":{late_objects}"
    records = cached_records(cache, key=key, watch=watch, build=lambda: parallel_map(one, seqs))
    logger.info("Loaded %d DAVIS %s %s sequences from %s", len(records), year, split, root)
    return records


def png_sequence_record(
    video_id: str,
    *,
    frames: list[Path],
    ann_dir: Path,
    require_all: bool,
    binary: bool = False,
    flow_dir: Path | None = None,
    first_frame_only: bool = False,
) -> dict:
    """Video record of a folder of frames plus a folder of same-stem indexed PNGs (DAVIS / YouTube-VOS).

    Args:
        frames: sorted frame files.
        ann_dir: folder of ``<frame stem>.png`` label maps.
        require_all: every frame must have a PNG; else frames without one are not annotated (``None``).
        binary: every object pixel is object 1 (DAVIS 2016); void (255) of indexed PNGs stays void. Grey ('L')
            PNGs (DAVIS-2016 package) always load as one object (every non-zero pixel), without void.
        flow_dir: optional folder of ``<frame stem>.flo``.
        first_frame_only: ``vos_init`` holds only the first annotated frame's objects (DAVIS protocol).
    """
    pngs = {p.stem: p for p in ann_dir.glob("*.png")}
    missing = [f.name for f in frames if f.stem not in pngs]
    if require_all and missing:
        raise DatasetFormatError(
            ann_dir, f"{len(pngs)} PNGs for {len(frames)} frames (no mask for {missing[0]})",
            expected="one annotation PNG per frame",
        )
    extra = sorted(set(pngs) - {f.stem for f in frames})
    if extra:
        raise DatasetFormatError(
            pngs[extra[0]], "annotation without a matching frame", expected="a frame with the same file stem"
        )
    annotations: list[list[dict] | None] = []
    ignore = []
    grey_masks = bool(pngs) and png_mode(next(iter(pngs.values()))) == "L"
    height = width = None
    for f in frames:
        if f.stem not in pngs:
            annotations.append(None)
            ignore.append(None)
            continue
        labels = read_indexed_png(pngs[f.stem])
        if grey_masks:  # DAVIS-2016 package: 0 / 255 grey masks, 255 = the object, no void
            labels = (labels > 0).astype(np.uint8)
        if height is None:
            height, width = labels.shape
        elif labels.shape != (height, width):
            raise DatasetFormatError(
                pngs[f.stem], f"size {labels.shape} differs from {(height, width)} of the sequence"
            )
        if binary:  # the DAVIS-2016 task on indexed masks: objects 1..254 are the one object, void stays void
            labels = np.where(labels == VOID_LABEL, labels, np.minimum(labels, 1)).astype(np.uint8)
        annotations.append(entries_from_label_map(labels))
        ignore.append(void_rle(labels))
    if height is None:
        raise DatasetFormatError(ann_dir, "no annotation PNG at all", expected="at least the first-frame mask")
    record = {
        "video_id": video_id,
        "file_names": [str(f) for f in frames],
        "height": int(height),
        "width": int(width),
        "length": len(frames),
        "annotations": annotations,
        "vos_init": first_appearance(annotations, first_frame_only=first_frame_only),
    }
    if any(r is not None for r in ignore):
        record["ignore"] = ignore
    if flow_dir is not None:
        flows = flow_file_names(flow_dir, record["file_names"])
        if flows is not None:
            record["flow_file_names"] = flows
    return record
