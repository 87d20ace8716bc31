"""``VOSEvaluator``: J&F for DAVIS 2016 / 2017 (semi-supervised or binary fg/bg) and YouTube-VOS.

The protocol comes from the dataset metadata ``vos_protocol`` (``davis`` | ``davis_binary`` | ``ytvos``, see
:mod:`vidseg.evaluation.vos_sequences`). With ``output_dir`` the predictions are also written as the servers'
palette-PNG tree ``<output_dir>/Annotations/<video>/<frame>.png`` (for the record's frames, or its
``eval_frames`` when given) and zipped to ``<output_dir>/submission.zip``. A GT-less split (``has_gt`` false)
only writes the submission and returns ``{}``.

Records may carry ``unseen_object_ids`` (objects of categories unseen in training) for the YouTube-VOS
seen / unseen split; without it every object counts as seen.
"""
from __future__ import annotations

import logging
import os
import shutil
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from vidseg.registry import EVALUATOR_REGISTRY
from vidseg.structures.video_instances import VideoInstances

from .base import VideoEvaluatorBase, annotated_frames, track_rles
from .submission import frame_names, video_folder_name, write_png_tree, zip_tree
from .vos_sequences import PROTOCOLS, RLELabels, SequenceJob, run_jobs, summarize

logger = logging.getLogger(__name__)


def gt_labels(record: Mapping, frames: Sequence[int]) -> RLELabels:
    """GT label maps of ``frames`` of a record (objects painted by id; void / ``ignore`` stays background)."""
    out = []
    for t in frames:
        anns = record["annotations"][t] or []
        out.append([(int(a["id"]), a["segmentation"]) for a in anns])
    return RLELabels(int(record["height"]), int(record["width"]), out)


def pred_labels(record: Mapping, vi: VideoInstances | None) -> RLELabels:
    """Predicted label maps of every frame of a record: tracks painted in ascending score (highest on top)."""
    length = len(record["file_names"])
    rows = track_rles(vi, length)
    frames: list[list[tuple[int, dict]]] = [[] for _ in range(length)]
    if vi is not None:
        for k in np.argsort(vi.scores, kind="stable"):
            for t, rle in enumerate(rows[int(k)]):
                if rle is not None:
                    frames[t].append((int(vi.track_ids[int(k)]), rle))
    return RLELabels(int(record["height"]), int(record["width"]), frames)


def build_job(record: Mapping, vi: VideoInstances | None) -> SequenceJob:
    """The evaluation job of one record (GT on its annotated frames)."""
    frames = annotated_frames(record)
    if not frames:
        raise ValueError(f"video {record['video_id']!r} has no annotated frame to evaluate")
    return SequenceJob(
        name=str(record["video_id"]),
        gt=gt_labels(record, frames),
        pred=pred_labels(record, vi),
        pred_index=frames,
        unseen=frozenset(int(i) for i in record.get("unseen_object_ids", ())),
    )


def write_submission(
    records: Sequence[Mapping], predictions: Mapping[Any, VideoInstances], output_dir: str, *, binary: bool = False
) -> str:
    """Write the palette-PNG tree of all predictions and zip it; returns the zip path. ``binary`` writes every
    predicted pixel as label 1 (DAVIS 2016 fg/bg)."""
    root = os.path.join(output_dir, "Annotations")
    if os.path.isdir(root):
        shutil.rmtree(root)
    for rec in records:
        labels = pred_labels(rec, predictions.get(rec["video_id"]))
        names = frame_names(rec)
        wanted = sorted(int(t) for t in rec["eval_frames"]) if rec.get("eval_frames") is not None else range(len(names))
        write_png_tree(root, video_folder_name(rec), _label_maps(labels, names, wanted, binary))
    os.makedirs(root, exist_ok=True)
    return str(zip_tree(root, os.path.join(output_dir, "submission.zip"), arc_root="Annotations"))


def _label_maps(
    labels: RLELabels, names: Sequence[str], frames: Iterable[int], binary: bool
) -> Iterator[tuple[str, np.ndarray]]:
    for t in frames:
        lab = np.ascontiguousarray(labels.load([t])[0])
        yield names[t], (lab > 0).astype(np.uint8) if binary else lab


@EVALUATOR_REGISTRY.register()
class VOSEvaluator(VideoEvaluatorBase):
    """J&F (Mean / Recall / Decay) per object, per sequence and over the dataset; YouTube-VOS seen / unseen / G.

    Args:
        dataset_name: a registered dataset whose metadata has ``vos_protocol`` (default ``davis``).
        output_dir: where to write predictions, the PNG submission and ``vos_details.json``.
        distributed: gather predictions from all ranks.
        protocol: overrides the metadata ``vos_protocol``.
        num_workers: processes over sequences (default: CPU count; 1 = in-process).
    """

    task = "vos"

    def __init__(
        self,
        dataset_name: str,
        output_dir: str | None = None,
        *,
        distributed: bool = True,
        protocol: str | None = None,
        num_workers: int | None = None,
    ) -> None:
        super().__init__(dataset_name, output_dir, distributed=distributed)
        self._protocol = protocol or self._metadata.get("vos_protocol", "davis")
        if self._protocol not in PROTOCOLS:
            raise ValueError(
                f"{dataset_name}: metadata vos_protocol={self._protocol!r}; expected one of {PROTOCOLS}"
            )
        self._num_workers = num_workers

    def _evaluate(self, records: list[dict], predictions: dict[Any, VideoInstances]) -> dict:
        if self._output_dir:
            path = write_submission(records, predictions, self._output_dir, binary=self._protocol == "davis_binary")
            logger.info("VOS submission written to %s", path)
        if not self._metadata.get("has_gt", True):
            return {}
        jobs = [build_job(rec, predictions.get(rec["video_id"])) for rec in records]
        results = run_jobs(jobs, self._protocol, num_workers=self._num_workers)
        metrics, details = summarize(results, self._protocol)
        self._write_json("vos_details.json", {"protocol": self._protocol, "metrics": metrics, "sequences": details})
        return {self.task: metrics}
