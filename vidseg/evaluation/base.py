"""Machinery shared by the video evaluators: collect ``VideoInstances``, gather to rank 0, dump the raw
predictions, check them against the ground-truth video records, and lay tracks out on the record's frames.

Every evaluator reads ground truth as video records (``DatasetCatalog.get(dataset_name)``, ``docs/architecture.md``) and
predictions as ``outputs[i]["video_instances"]`` paired with ``inputs[i]["video_id"]``.
"""
from __future__ import annotations

import abc
import json
import logging
import math
import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager

from vidseg.structures.video_instances import VideoInstances
from vidseg.structures.masks import RLE

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "video_predictions.json"


class VideoEvaluatorBase(DatasetEvaluator, abc.ABC):
    """reset / process / evaluate for evaluators of whole-video predictions.

    Subclasses set :attr:`task` (the key of the returned results) and implement :meth:`_evaluate`, which runs on
    rank 0 only with every prediction gathered.
    """

    task: str = "video"

    def __init__(self, dataset_name: str, output_dir: str | None = None, *, distributed: bool = True) -> None:
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._distributed = distributed
        self._metadata = MetadataCatalog.get(dataset_name)
        self._predictions: list[tuple[Any, dict]] = []

    def reset(self) -> None:
        self._predictions = []

    def process(self, inputs: Sequence[Mapping], outputs: Sequence[Mapping]) -> None:
        """Store ``(input["video_id"], output["video_instances"])`` of every video of the batch."""
        for inp, out in zip(inputs, outputs):
            if "video_instances" not in out:
                raise KeyError(
                    f"{type(self).__name__}: model output for video {inp.get('video_id')!r} has no 'video_instances' "
                    f"(keys: {sorted(out)}); expected {{'video_instances': VideoInstances}}"
                )
            vi = out["video_instances"]
            self._predictions.append((inp["video_id"], vi.to_dict() if isinstance(vi, VideoInstances) else dict(vi)))

    def evaluate(self) -> dict:
        """Gather, dump, evaluate on rank 0; other ranks return ``{}``."""
        if self._distributed:
            comm.synchronize()
            gathered = comm.gather(self._predictions, dst=0)
            if not comm.is_main_process():
                return {}
            pairs = [p for part in gathered for p in part]
        else:
            pairs = list(self._predictions)
        if self._output_dir:
            PathManager.mkdirs(self._output_dir)
            with PathManager.open(os.path.join(self._output_dir, PREDICTIONS_FILE), "w") as f:
                json.dump([{"video_id": v, "video_instances": d} for v, d in pairs], f)
        records = DatasetCatalog.get(self._dataset_name)
        predictions = check_predictions(self._dataset_name, records, pairs)
        return self._evaluate(records, predictions)

    @abc.abstractmethod
    def _evaluate(self, records: list[dict], predictions: dict[Any, VideoInstances]) -> dict:
        """Metrics ``{self.task: {name: value}}`` (or ``{}`` for a GT-less split) from checked predictions."""

    def _write_json(self, name: str, obj: object) -> str | None:
        """Write ``obj`` as ``<output_dir>/<name>`` (NaN -> null); returns the path or None without output_dir."""
        if not self._output_dir:
            return None
        PathManager.mkdirs(self._output_dir)
        path = os.path.join(self._output_dir, name)
        with PathManager.open(path, "w") as f:
            json.dump(to_jsonable(obj), f)
        return path


def check_predictions(
    dataset_name: str, records: Sequence[Mapping], pairs: Iterable[tuple[Any, Mapping | VideoInstances]]
) -> dict[Any, VideoInstances]:
    """Validate predictions against the records and index them by video id.

    Raises ``ValueError`` (one line) for an unknown video id, a video predicted twice, masks whose size differs
    from the record's ``(height, width)`` or frame indices outside the video.
    """
    by_id = {r["video_id"]: r for r in records}
    out: dict[Any, VideoInstances] = {}
    for video_id, pred in pairs:
        vi = pred if isinstance(pred, VideoInstances) else VideoInstances.from_dict(dict(pred))
        rec = by_id.get(video_id)
        if rec is None:
            some = sorted(map(str, by_id))[:5]
            raise ValueError(
                f"{dataset_name}: prediction for video_id {video_id!r}, which is not in the dataset "
                f"({len(by_id)} videos, e.g. {some})"
            )
        if video_id in out:
            raise ValueError(f"{dataset_name}: video_id {video_id!r} was predicted twice (expected one output per video)")
        expected = (int(rec["height"]), int(rec["width"]))
        if len(vi) and tuple(vi.image_size) != expected:
            raise ValueError(
                f"{dataset_name}: video {video_id!r}: predicted masks are {vi.image_size[0]}x{vi.image_size[1]} but the "
                f"ground truth is {expected[0]}x{expected[1]} (predict at the original resolution)"
            )
        length = len(rec["file_names"])
        bad = [i for i in vi.frame_idx if not 0 <= i < length]
        if bad:
            raise ValueError(
                f"{dataset_name}: video {video_id!r}: frame_idx {bad[0]} outside the video's {length} frames"
            )
        out[video_id] = vi
    return out


def track_rles(vi: VideoInstances | None, length: int) -> list[list[RLE | None]]:
    """N lists of ``length`` RLEs (``None`` where absent): ``vi.masks`` placed at ``vi.frame_idx``."""
    if vi is None:
        return []
    rows = []
    for per_frame in vi.masks:
        row: list[RLE | None] = [None] * length
        for t, rle in zip(vi.frame_idx, per_frame):
            row[t] = rle
        rows.append(row)
    return rows


def gt_tracks(record: Mapping, *, keep_empty: bool = False) -> list[dict]:
    """Ground-truth objects of a video record, one dict per object id (in order of first appearance).

    Returns dicts ``{id, category_id, iscrowd, segmentations[T]}`` (``None`` where the object is absent or the
    frame is not annotated). With ``keep_empty`` and a record listing ``gt_tracks`` (YouTube-VIS json), every
    listed track in that order, also those without any non-empty frame (all ``None``), with its ``area`` when
    known (the official evaluation's ground truth).
    """
    length = len(record["file_names"])
    tracks: dict[int, dict] = {}
    listed = record.get("gt_tracks") if keep_empty else None
    for info in listed or ():
        tracks[info["id"]] = {"id": int(info["id"]), "category_id": int(info["category_id"]),
                              "iscrowd": int(info.get("iscrowd", 0)), "segmentations": [None] * length}
        if info.get("area") is not None:
            tracks[info["id"]]["area"] = float(info["area"])
    for t, anns in enumerate(record["annotations"]):
        for ann in anns or ():
            obj = tracks.get(ann["id"])
            if obj is None:
                obj = tracks[ann["id"]] = {
                    "id": int(ann["id"]),
                    "category_id": int(ann["category_id"]),
                    "iscrowd": int(ann.get("iscrowd", 0)),
                    "segmentations": [None] * length,
                }
            obj["segmentations"][t] = ann["segmentation"]
    return list(tracks.values())


def annotated_frames(record: Mapping) -> list[int]:
    """Indices of the annotated frames of a record (``eval_frames`` when present, else non-``None`` entries)."""
    if record.get("eval_frames") is not None:
        frames = sorted(int(t) for t in record["eval_frames"])
        length = len(record["file_names"])
        if frames and not (0 <= frames[0] and frames[-1] < length):
            raise ValueError(
                f"video {record['video_id']!r}: eval_frames {frames} reach outside its {length} frames"
            )
        return frames
    return [t for t, anns in enumerate(record["annotations"]) if anns is not None]


def to_jsonable(obj: Any) -> Any:
    """Recursively convert numpy scalars / tuples to plain Python and NaN / inf to ``None`` (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
