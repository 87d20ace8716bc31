"""YouTube-VIS 2019 / 2021 and OVIS (same json format) -> video records (``docs/architecture.md``).

json: ``{"videos": [{id, file_names[T], height, width, length}], "categories": [{id, name}],
"annotations": [{id, video_id, category_id, segmentations[T] (RLE / polygons / null), iscrowd}]}``;
validation / test jsons have no ``annotations`` key.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

import pycocotools.mask as mask_util

from vidseg.data.io.errors import DatasetFormatError, require_exists

from .common import dataset_has_gt, entries_from_rles, flow_file_names, set_metadata
from vidseg.structures.masks import RLE, segm_to_rle, uncompressed_to_rles, validate_rle

logger = logging.getLogger(__name__)

LAYOUT = "a YouTube-VIS style json with 'videos', 'categories' and (for GT splits) 'annotations'"


def _read_json(json_file: Path) -> dict:
    require_exists(json_file, what="annotation json", layout=LAYOUT)
    try:
        with open(json_file) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetFormatError(json_file, f"invalid json ({e.msg} at line {e.lineno})", expected=LAYOUT) from e
    if not isinstance(data, dict) or "videos" not in data:
        raise DatasetFormatError(json_file, "no 'videos' list", expected=LAYOUT)
    return data


def _segmentations_to_rles(
    json_file: Path, video: dict, anns: list[dict]
) -> list[list[RLE | None]]:
    """Per annotation, T compressed RLEs (None where null); uncompressed RLEs converted in one call per video."""
    h, w, length = video["height"], video["width"], video["length"]
    out: list[list[RLE | None]] = []
    pending: list[dict] = []
    slots: list[tuple[int, int]] = []
    for a_i, ann in enumerate(anns):
        segs = ann.get("segmentations")
        if not isinstance(segs, list) or len(segs) != length:
            n = len(segs) if isinstance(segs, list) else "no"
            raise DatasetFormatError(
                json_file,
                f"annotation {ann.get('id')} of video {video['id']} has {n} segmentations "
                f"for a video of length {length}",
                expected="one entry (RLE, polygons or null) per frame",
            )
        row: list[RLE | None] = [None] * length
        for t, seg in enumerate(segs):
            if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
                if [int(s) for s in seg.get("size", ())] != [h, w]:
                    raise DatasetFormatError(
                        json_file,
                        f"annotation {ann.get('id')} frame {t}: RLE size {seg.get('size')} != video size {[h, w]}",
                    )
                try:
                    validate_rle(seg, where=f"annotation {ann.get('id')} of video {video['id']} frame {t}")
                except ValueError as e:
                    raise DatasetFormatError(json_file, str(e), expected="RLE runs summing to height*width") from None
                pending.append(seg)
                slots.append((a_i, t))
            elif seg is not None:
                try:
                    row[t] = segm_to_rle(seg, h, w)
                except ValueError as e:
                    raise DatasetFormatError(
                        json_file, f"annotation {ann.get('id')} of video {video['id']} frame {t}: {e}") from None
        out.append(row)
    for (a_i, t), rle in zip(slots, uncompressed_to_rles(pending, h, w)):
        out[a_i][t] = rle
    return out


def _check_video(json_file: Path, video: dict) -> None:
    for key in ("id", "file_names", "height", "width"):
        if not isinstance(video, dict) or key not in video:
            vid = video.get("id", "?") if isinstance(video, dict) else str(video)[:40]
            raise DatasetFormatError(json_file, f"video entry {vid} has no '{key}'", expected=LAYOUT)
    video.setdefault("length", len(video["file_names"]))
    if video["length"] != len(video["file_names"]):
        raise DatasetFormatError(
            json_file,
            f"video {video['id']} has length {video['length']} but {len(video['file_names'])} file_names",
            expected="'length' == len('file_names')",
        )


def load_ytvis_json(
    json_file: str | Path,
    image_root: str | Path,
    dataset_name: str | None = None,
    *,
    require_annotations: bool | None = None,
    flow_root: str | Path | None = None,
) -> list[dict]:
    """Load a YouTube-VIS / OVIS json as video records.

    Args:
        json_file: the annotation json.
        image_root: folder the json's ``file_names`` are relative to.
        dataset_name: when given, fills ``MetadataCatalog`` ``thing_classes`` and
            ``thing_dataset_id_to_contiguous_id`` (sorted category ids -> 0..C-1).
        require_annotations: a missing ``annotations`` key is an error when True; default: the dataset's
            ``has_gt`` metadata (False when unregistered). Without annotations every frame entry is ``None``.
        flow_root: optional; ``<flow_root>/<video folder>/<frame stem>.flo`` adds ``flow_file_names``.

    Returns:
        One record per video: ``video_id, file_names[T], height, width, length, annotations[T]`` (objects with
        an empty mask on a frame are absent there) and, with annotations, ``gt_tracks`` (every annotated track in
        json order with its ``id, category_id, iscrowd, area``; what the YouTube-VIS evaluation scores).
    """
    json_file, image_root = Path(json_file), Path(image_root)
    data = _read_json(json_file)
    cats = data.get("categories") or []
    if not all(isinstance(c, dict) and "id" in c and "name" in c for c in cats):
        raise DatasetFormatError(json_file, "a category lacks 'id' or 'name'", expected=LAYOUT)
    cats = sorted(cats, key=lambda c: c["id"])
    id_map = {int(c["id"]): i for i, c in enumerate(cats)}
    if cats:
        set_metadata(
            dataset_name, thing_classes=[c["name"] for c in cats], thing_dataset_id_to_contiguous_id=id_map
        )
    if require_annotations is None:
        require_annotations = dataset_has_gt(dataset_name, default=False)
    has_anns = "annotations" in data
    if require_annotations and not has_anns:
        raise DatasetFormatError(json_file, "json has no 'annotations' but the split is registered with has_gt=True",
                                 expected=LAYOUT)
    anns_by_video: dict[int, list[dict]] = defaultdict(list)
    for ann in data.get("annotations") or []:
        if not isinstance(ann, dict) or any(k not in ann for k in ("id", "video_id", "category_id")):
            raise DatasetFormatError(json_file, f"annotation {str(ann)[:60]!r} lacks id/video_id/category_id",
                                     expected=LAYOUT)
        anns_by_video[ann["video_id"]].append(ann)
    known = {v.get("id") for v in data["videos"] if isinstance(v, dict)}
    orphans = sorted((v for v in anns_by_video if v not in known), key=str)
    if orphans:
        logger.warning("%s: %d annotations name %d video_id(s) not in 'videos' (e.g. %s); they are ignored", json_file,
                       sum(len(anns_by_video[v]) for v in orphans), len(orphans), orphans[0])

    records = []
    for video in data["videos"]:
        _check_video(json_file, video)
        length = video["length"]
        file_names = [str(image_root / f) for f in video["file_names"]]
        record = {
            "video_id": video["id"],
            "file_names": file_names,
            "height": int(video["height"]),
            "width": int(video["width"]),
            "length": length,
            "annotations": [None] * length,
        }
        if has_anns:
            anns = anns_by_video.get(video["id"], [])
            per_frame: list[list[tuple[int, int, RLE, int]]] = [[] for _ in range(length)]
            for ann, row in zip(anns, _segmentations_to_rles(json_file, video, anns)):
                if int(ann["category_id"]) not in id_map:
                    raise DatasetFormatError(
                        json_file, f"annotation {ann['id']} has category_id {ann['category_id']} not in 'categories'"
                    )
                for t, rle in enumerate(row):
                    if rle is not None:
                        per_frame[t].append((ann["id"], id_map[int(ann["category_id"])], rle, ann.get("iscrowd", 0)))
            record["annotations"] = [_frame_entries(objs) for objs in per_frame]
            record["gt_tracks"] = [_track_info(ann, id_map) for ann in anns]
        if flow_root is not None:
            flows = flow_file_names(Path(flow_root) / Path(video["file_names"][0]).parent, file_names)
            if flows is not None:
                record["flow_file_names"] = flows
        records.append(record)
    logger.info("Loaded %d videos from %s", len(records), json_file)
    return records


def _track_info(ann: dict, id_map: dict[int, int]) -> dict:
    """Every annotated track of a video, in json order, for the evaluation (the official evaluator keeps tracks
    whose frames are all empty or null as unmatchable ground truth); ``area`` is the official ``avg_area`` from
    the json's ``areas`` (mean of its non-zero, non-null entries) or ``None`` when the json has none."""
    areas = ann.get("areas")
    area = None
    if isinstance(areas, list):
        nz = [float(a) for a in areas if a]
        area = sum(nz) / len(nz) if nz else 0.0
    return {"id": ann["id"], "category_id": id_map[int(ann["category_id"])], "iscrowd": int(ann.get("iscrowd", 0)),
            "area": area}


def _frame_entries(objs: list[tuple[int, int, RLE, int]]) -> list[dict]:
    """Entries of one frame; objects whose mask is empty count as absent."""
    if not objs:
        return []
    rles = [o[2] for o in objs]
    keep = [i for i, a in enumerate(mask_util.area(rles)) if a > 0]
    entries = entries_from_rles([objs[i][0] for i in keep], [objs[i][1] for i in keep], [rles[i] for i in keep])
    for e, i in zip(entries, keep):
        e["iscrowd"] = int(objs[i][3])
    return entries
