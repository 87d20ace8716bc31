"""Register a custom dataset in one call; the evaluator follows from the metadata (``evaluator_type``).

- :func:`register_ytvis_instances`: a YouTube-VIS style json (video instance segmentation, ``YTVISEvaluator``),
- :func:`register_vos_folder`: a DAVIS-style folder of frames + indexed PNGs (``VOSEvaluator``),
- :func:`register_mots_txt`: a KITTI-MOTS style folder of txt files + frames (``MOTSEvaluator``).

Every loader is lazy (runs on ``DatasetCatalog.get``) and reports a malformed file in one line naming it.
Layouts and examples: ``datasets/README.md`` ("Custom datasets").
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog

from vidseg.data.io.errors import DatasetFormatError, require_exists

from .builtin import EVALUATORS
from .common import list_frames, parallel_map
from .davis import png_sequence_record
from .kitti_mots import MOTS_CLASS_IDS, MOTS_CLASSES, load_kitti_mots
from .ytvis import load_ytvis_json

VOS_LAYOUT = "<root>/JPEGImages/<seq>/<frame>.jpg and <root>/Annotations/<seq>/<frame>.png (indexed PNGs)"
VOS_PROTOCOLS = ("davis", "ytvos", "davis_binary")


def _register(name: str, loader, **metadata: object) -> None:
    if name in DatasetCatalog.list():
        raise ValueError(f"dataset {name!r} is already registered (pick another name or DatasetCatalog.remove it)")

    def load() -> list[dict]:
        records = loader()
        for r in records:
            r["dataset_name"] = name
        return records

    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(**metadata)


def register_ytvis_instances(
    name: str,
    json_file: str | Path,
    image_root: str | Path,
    *,
    thing_classes: Sequence[str] | None = None,
    has_gt: bool = True,
) -> None:
    """Register a YouTube-VIS / OVIS style json (``videos``, ``categories``, ``annotations``).

    Args:
        json_file: the annotation json; ``file_names`` are relative to ``image_root``.
        thing_classes: class names in the order of the sorted json category ids; default: the json's names
            (read when the dataset is first loaded). Given, they must match the json's count.
        has_gt: False for a split without annotations (the evaluator then only writes the submission).
    """
    meta: dict = {"evaluator_type": EVALUATORS["vis"], "task": "vis", "has_gt": has_gt,
                  "json_file": str(json_file), "image_root": str(image_root)}
    if thing_classes is not None:
        meta["thing_classes"] = list(thing_classes)

    def load() -> list[dict]:
        records = load_ytvis_json(json_file, image_root, name, require_annotations=has_gt)
        classes = MetadataCatalog.get(name).get("thing_classes", None)
        if thing_classes is not None and classes is not None and len(classes) != len(thing_classes):
            raise DatasetFormatError(json_file, f"{len(classes)} categories but thing_classes has {len(thing_classes)}")
        return records

    _register(name, load, **meta)


def load_vos_folder(
    root: str | Path,
    *,
    sequences: Sequence[str] | None = None,
    require_annotations: bool = False,
    first_frame_only: bool = True,
    dataset_name: str | None = None,
) -> list[dict]:
    """Records of ``<root>/JPEGImages/<seq>/`` + ``<root>/Annotations/<seq>/<frame stem>.png``.

    Args:
        sequences: the sequences to load (default: every folder of ``JPEGImages``, sorted).
        require_annotations: every frame needs a PNG (else frames without one are ``None``).
        first_frame_only: ``vos_init`` holds only the first annotated frame's objects (DAVIS); False lists
            each object at its first annotated frame (YouTube-VOS, objects entering late).
    """
    root = Path(root)
    img_root = require_exists(root / "JPEGImages", what="VOS frame folder", layout=VOS_LAYOUT)
    ann_root = require_exists(root / "Annotations", what="VOS annotation folder", layout=VOS_LAYOUT)
    seqs = list(sequences) if sequences is not None else sorted(p.name for p in img_root.iterdir() if p.is_dir())
    if not seqs:
        raise DatasetFormatError(img_root, "no sequence folders", expected=VOS_LAYOUT)
    if dataset_name is not None:
        MetadataCatalog.get(dataset_name).set(thing_classes=["object"], thing_dataset_id_to_contiguous_id={1: 0})

    def one(seq: str) -> dict:
        frames = list_frames(img_root / seq, layout=VOS_LAYOUT)
        ann_dir = require_exists(ann_root / seq, what="annotation folder", layout=VOS_LAYOUT)
        check_vos_sequence(frames, ann_dir, first_frame_mask=first_frame_only)
        return png_sequence_record(seq, frames=frames, ann_dir=ann_dir, require_all=require_annotations,
                                   first_frame_only=first_frame_only)

    return parallel_map(one, seqs)


def check_vos_sequence(frames: Sequence[Path], ann_dir: Path, *, first_frame_mask: bool = True) -> None:
    """Users' own videos: every frame has the first frame's size, every PNG that size, and (DAVIS protocol) the
    first frame has a mask. Reads image headers only; raises :class:`DatasetFormatError` naming the file."""
    from PIL import Image

    def size(path: Path) -> tuple[int, int]:
        with Image.open(path) as im:
            return im.size

    first = size(frames[0])
    for f in frames[1:]:
        if size(f) != first:
            raise DatasetFormatError(f, f"frame is {size(f)[0]}x{size(f)[1]} but the video started at "
                                        f"{first[0]}x{first[1]}", expected="one frame size per video")
    mask0 = ann_dir / f"{frames[0].stem}.png"
    if first_frame_mask and not mask0.is_file():
        raise DatasetFormatError(mask0, "first-frame mask missing", expected="an indexed PNG for the first frame")
    for png in sorted(ann_dir.glob("*.png")):
        if size(png) != first:
            raise DatasetFormatError(png, f"mask is {size(png)[0]}x{size(png)[1]} but the frames are "
                                          f"{first[0]}x{first[1]}", expected="masks of the frame size")


def register_vos_folder(
    name: str,
    root: str | Path,
    *,
    protocol: str = "davis",
    sequences: Sequence[str] | None = None,
    has_gt: bool = True,
    require_annotations: bool = False,
) -> None:
    """Register a DAVIS-style VOS folder (``<root>/JPEGImages/<seq>/``, ``<root>/Annotations/<seq>/``).

    Args:
        protocol: J&F protocol of the evaluator: ``davis`` (objects of the first frame given, first and last
            frames not scored), ``ytvos`` (objects may start late, scored from their first frame on) or
            ``davis_binary`` (fg/bg).
        sequences: the sequences to use (default: every folder of ``JPEGImages``).
        has_gt: False when only the first-frame masks exist (the evaluator then only writes the submission).
        require_annotations: every frame must have a PNG.
    """
    if protocol not in VOS_PROTOCOLS:
        raise ValueError(f"register_vos_folder({name!r}): protocol {protocol!r}; expected one of {VOS_PROTOCOLS}")
    root = Path(root)
    _register(
        name,
        lambda: load_vos_folder(root, sequences=sequences, require_annotations=require_annotations,
                                first_frame_only=protocol != "ytvos", dataset_name=name),
        evaluator_type=EVALUATORS["vos"], task="vos", vos_protocol=protocol, has_gt=has_gt,
        thing_classes=["object"], thing_dataset_id_to_contiguous_id={1: 0},
        gt_root=str(root / "Annotations"), image_root=str(root / "JPEGImages"),
    )


def register_mots_txt(
    name: str,
    root: str | Path,
    *,
    sequences: Sequence[str] | None = None,
    image_dir: str = "training/image_02",
    txt_dir: str = "instances_txt",
) -> None:
    """Register a KITTI-MOTS style folder: ``<root>/<txt_dir>/<seq>.txt`` (lines ``frame obj_id class_id h w
    rle``; class 1 car, 2 pedestrian, 10 ignore) and ``<root>/<image_dir>/<seq>/<frame>.png``.

    Args:
        sequences: the sequences to load (default: every ``.txt`` of ``txt_dir``, sorted).
    """
    root = Path(root)

    def load() -> list[dict]:
        seqs = sequences
        if seqs is None:
            txt_root = require_exists(root / txt_dir, what="MOTS txt folder", layout=f"<root>/{txt_dir}/<seq>.txt")
            seqs = sorted(p.stem for p in txt_root.glob("*.txt"))
            if not seqs:
                raise DatasetFormatError(txt_root, "no .txt files", expected="one <seq>.txt per sequence")
        return load_kitti_mots(root, sequences=list(seqs), image_dir=image_dir, txt_dir=txt_dir, dataset_name=name)

    _register(
        name, load, evaluator_type=EVALUATORS["mots"], task="mots", has_gt=True, thing_classes=list(MOTS_CLASSES),
        thing_dataset_id_to_contiguous_id=dict(MOTS_CLASS_IDS), gt_root=str(root / txt_dir),
        image_root=str(root / image_dir),
    )
