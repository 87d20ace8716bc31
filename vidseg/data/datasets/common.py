"""Helpers shared by the dataset loaders: roots, frame listing, label maps -> annotation entries, flow files."""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np
import pycocotools.mask as mask_util
from detectron2.data import MetadataCatalog
from detectron2.structures import BoxMode

from vidseg.data.io.errors import DatasetFormatError, require_exists
from vidseg.structures.masks import RLE, encode_masks

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")
VOID_LABEL = 255


def datasets_root() -> Path:
    """``$DETECTRON2_DATASETS`` read at call time (default ``datasets``)."""
    return Path(os.environ.get("DETECTRON2_DATASETS", "datasets"))


def natural_key(path: Path) -> list[object]:
    """Sort key treating digit runs as numbers (``img_2`` before ``img_10``)."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", path.name)]


def list_frames(folder: str | Path, exts: Sequence[str] = IMAGE_EXTS, *, layout: str) -> list[Path]:
    """Sorted image files directly inside ``folder``; an error naming the folder when it is missing or empty."""
    d = require_exists(folder, what="frame folder", layout=layout)
    files = sorted((p for p in d.iterdir() if p.is_file() and p.suffix.lower() in exts), key=natural_key)
    if not files:
        raise DatasetFormatError(d, "no frames found", expected=f"files ending in {'/'.join(exts)}; {layout}")
    return files


def make_entry(obj_id: int, category_id: int, rle: RLE, bbox: Sequence[float], iscrowd: int = 0) -> dict:
    """One per-frame object annotation of the video record (``docs/architecture.md``)."""
    return {
        "id": int(obj_id),
        "category_id": int(category_id),
        "segmentation": rle,
        "bbox": [float(x) for x in bbox],
        "bbox_mode": BoxMode.XYWH_ABS,
        "iscrowd": int(iscrowd),
    }


def entries_from_rles(ids: Sequence[int], category_ids: Sequence[int], rles: Sequence[RLE]) -> list[dict]:
    """Entries for parallel lists of ids / contiguous categories / RLEs (boxes from one ``toBbox`` call)."""
    if not rles:
        return []
    boxes = mask_util.toBbox(list(rles))
    return [make_entry(i, c, r, b) for i, c, r, b in zip(ids, category_ids, rles, boxes)]


def entries_from_label_map(
    labels: np.ndarray, *, category_of: dict[int, int] | None = None, ignore_ids: Iterable[int] = (0, VOID_LABEL)
) -> list[dict]:
    """Entries for every object id of an H×W integer label map.

    Args:
        labels: H×W ints; 0 = background, ``VOID_LABEL`` = void (both skipped by default).
        category_of: object id -> contiguous category (default: every object is category 0).
    """
    present = np.flatnonzero(np.bincount(labels.ravel())) if labels.dtype == np.uint8 else np.unique(labels)
    skip = set(ignore_ids)
    ids = [int(i) for i in present if int(i) not in skip]
    if not ids:
        return []
    rles = [encode_masks((labels == i)[None])[0] for i in ids]
    cats = [0 if category_of is None else category_of[i] for i in ids]
    return entries_from_rles(ids, cats, rles)


def void_rle(labels: np.ndarray) -> RLE | None:
    """RLE of the void (255) pixels of a label map, or ``None`` when there are none."""
    void = labels == VOID_LABEL
    return encode_masks(void[None])[0] if void.any() else None


def parallel_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` on a thread pool (PNG decoding releases the GIL); order kept, errors re-raised."""
    workers = min(8, os.cpu_count() or 1, max(len(items), 1))
    if workers == 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


NO_CACHE_ENV = "VIDSEG_NO_CACHE"  # set (or ``train_net.py --no-cache``): always parse the dataset files


def cache_dir() -> Path | None:
    """``$VIDSEG_CACHE_DIR`` (default ``~/.cache/vidseg``): parsed records of slow-to-load datasets; None when
    ``$VIDSEG_NO_CACHE`` is set to anything but ``0``."""
    if os.environ.get(NO_CACHE_ENV, "") not in ("", "0"):
        return None
    return Path(os.environ.get("VIDSEG_CACHE_DIR") or Path.home() / ".cache" / "vidseg")


def _fingerprint(folder: Path) -> str:
    """Name, size and mtime of every file in ``folder`` (or of ``folder`` itself when it is a file): a PNG fixed
    or broken in place changes its size or mtime even when the folder's own mtime stays the same."""
    if not folder.exists():
        return f"{folder}:missing;"
    if not folder.is_dir():
        st = folder.stat()
        return f"{folder}:{st.st_size}:{st.st_mtime_ns};"
    with os.scandir(folder) as it:  # sub-folders by mtime (files added to or removed from them)
        entries = sorted((e.name, e.stat().st_size if e.is_file() else -1, e.stat().st_mtime_ns) for e in it)
    return f"{folder}:" + ",".join(f"{n}/{size}/{mtime}" for n, size, mtime in entries) + ";"


def cached_records(
    cache: Path | None, *, key: str, watch: Sequence[Path], build: Callable[[], list[dict]]
) -> list[dict]:
    """``build()`` memoised in ``cache`` (None = no cache) under ``key`` plus the name, size and mtime of every
    file in the ``watch`` folders (adding, removing, replacing or editing a file invalidates the entry)."""
    if cache is None:
        return build()
    h = hashlib.sha1(key.encode())
    for d in watch:
        h.update(_fingerprint(Path(d)).encode())
    path = cache / f"records_{h.hexdigest()[:20]}.pkl"
    if path.is_file():
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError) as e:
            logger.warning("ignoring unreadable dataset cache %s (%s)", path, e)
    records = build()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        pickle.dump(records, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    logger.info("cached %d records of %s in %s", len(records), key, path)
    return records


def first_appearance(
    annotations: Sequence[list[dict] | None], *, first_frame_only: bool = False
) -> dict[int, list[int]]:
    """``vos_init``: {frame index: ids of the objects first annotated in that frame}.

    With ``first_frame_only`` (DAVIS semi-supervised protocol) only the objects of the first annotated frame
    are given: {t0: ids}.
    """
    seen: set[int] = set()
    init: dict[int, list[int]] = {}
    for t, objs in enumerate(annotations):
        new = sorted({o["id"] for o in objs or []} - seen)
        if new:
            init[t] = new
            seen.update(new)
            if first_frame_only:
                break
    return init


def flow_file_names(flow_dir: Path, file_names: Sequence[str]) -> list[str | None] | None:
    """``<flow_dir>/<frame stem>.flo`` for frames 0..T-2 and ``None`` for the last one, or ``None`` when
    ``flow_dir`` does not exist. A partially computed flow folder is an error naming the missing file."""
    if not flow_dir.is_dir():
        return None
    out: list[str | None] = []
    for f in file_names[:-1]:
        p = flow_dir / (Path(f).stem + ".flo")
        if not p.is_file():
            raise DatasetFormatError(
                p, "flow file missing", expected="one .flo per frame but the last (datasets/prepare_flow.py)"
            )
        out.append(str(p))
    return out + [None]


def set_metadata(dataset_name: str | None, **kwargs: object) -> None:
    """Set metadata keys of ``dataset_name``, accepting equal re-sets and refusing a different value."""
    if dataset_name is None:
        return
    meta = MetadataCatalog.get(dataset_name)
    for k, v in kwargs.items():
        old = meta.get(k, None)
        if old is None:
            meta.set(**{k: v})
        elif old != v:
            raise DatasetFormatError(
                dataset_name, f"metadata {k!r} from the files ({v}) differs from the registered one ({old})"
            )


def dataset_has_gt(dataset_name: str | None, default: bool) -> bool:
    """The ``has_gt`` metadata of a registered dataset (``default`` when unregistered / unset)."""
    if dataset_name is None:
        return default
    return bool(MetadataCatalog.get(dataset_name).get("has_gt", default))
