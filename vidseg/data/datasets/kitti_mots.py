"""KITTI-MOTS -> video records.

Layout under ``root`` (``datasets/kitti_mots``)::

    instances_txt/<seq>.txt                  lines "frame obj_id class_id height width rle"
    training/image_02/<seq>/000000.png ...   frames (frame index = position in the sorted list)

Classes: 1 car, 2 pedestrian (contiguous 0, 1); ``obj_id == 10000`` (class 10) is an ignore region, collected
into ``ignore[T]``. Every frame is annotated (frames without lines are ``[]``).
"""
from __future__ import annotations

import logging
from pathlib import Path

from vidseg.data.io.errors import DatasetFormatError, require_exists
from vidseg.data.io.kitti_mots import read_kitti_mots_txt
from vidseg.structures.masks import merge

from .common import entries_from_rles, flow_file_names, list_frames, set_metadata

logger = logging.getLogger(__name__)

LAYOUT = "kitti_mots/instances_txt/<seq>.txt and kitti_mots/training/image_02/<seq>/<frame:06d>.png"
MOTS_CLASSES = ["car", "pedestrian"]
MOTS_CLASS_IDS = {1: 0, 2: 1}
IGNORE_CLASS, IGNORE_OBJ_ID = 10, 10000
# the MOTS train/val split of Voigtlaender et al. (TrackR-CNN)
KITTI_MOTS_SPLITS = {
    "train": ["0000", "0001", "0003", "0004", "0005", "0009", "0011", "0012", "0015", "0017", "0019", "0020"],
    "val": ["0002", "0006", "0007", "0008", "0010", "0013", "0014", "0016", "0018"],
}


def load_kitti_mots(
    root: str | Path,
    *,
    sequences: list[str],
    image_dir: str = "training/image_02",
    txt_dir: str = "instances_txt",
    dataset_name: str | None = None,
    flow_root: str | Path | None = None,
) -> list[dict]:
    """Load the given KITTI-MOTS sequences.

    Returns:
        Records with ``annotations[T]`` (id = obj_id, category 0 car / 1 pedestrian) and ``ignore[T]``
        (RLE of the merged ignore regions, or ``None``).
    """
    root = require_exists(root, what="KITTI-MOTS root", layout=LAYOUT)
    set_metadata(dataset_name, thing_classes=list(MOTS_CLASSES), thing_dataset_id_to_contiguous_id=dict(MOTS_CLASS_IDS))
    records = []
    for seq in sequences:
        txt = root / txt_dir / f"{seq}.txt"
        require_exists(txt, what="MOTS instance txt", layout=LAYOUT)
        frames = list_frames(root / image_dir / seq, layout=LAYOUT)
        per_frame = read_kitti_mots_txt(txt)
        annotations: list[list[dict] | None] = [[] for _ in frames]
        ignore: list[dict | None] = [None] * len(frames)
        size = None
        for t, objs in sorted(per_frame.items()):
            if not 0 <= t < len(frames):
                raise DatasetFormatError(
                    txt, f"annotation for frame {t} but {root / image_dir / seq} has {len(frames)} frames",
                    expected="frame numbers below the frame count",
                )
            ids, cats, rles, ignores = [], [], [], []
            for obj_id, class_id, rle in objs:
                size = size or tuple(rle["size"])
                if tuple(rle["size"]) != size:
                    raise DatasetFormatError(txt, f"frame {t} obj {obj_id}: mask size {rle['size']} != {list(size)}")
                if obj_id == IGNORE_OBJ_ID or class_id == IGNORE_CLASS:
                    ignores.append(rle)
                elif class_id in MOTS_CLASS_IDS:
                    ids.append(obj_id)
                    cats.append(MOTS_CLASS_IDS[class_id])
                    rles.append(rle)
                else:
                    raise DatasetFormatError(txt, f"frame {t} obj {obj_id}: class {class_id}", expected="1, 2 or 10")
            annotations[t] = entries_from_rles(ids, cats, rles)
            if ignores:
                ignore[t] = merge(ignores)
        if size is None:
            raise DatasetFormatError(txt, "no annotation lines", expected="at least one object")
        record = {
            "video_id": seq,
            "file_names": [str(f) for f in frames],
            "height": int(size[0]),
            "width": int(size[1]),
            "length": len(frames),
            "annotations": annotations,
            "ignore": ignore,
        }
        if flow_root is not None:
            flows = flow_file_names(Path(flow_root) / seq, record["file_names"])
            if flows is not None:
                record["flow_file_names"] = flows
        records.append(record)
    logger.info("Loaded %d KITTI-MOTS sequences from %s", len(records), root)
    return records
