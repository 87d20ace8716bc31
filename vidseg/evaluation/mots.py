"""``MOTSEvaluator``: KITTI-MOTS sMOTSA / MOTSA / MOTSP / IDSW / IDF1 (and HOTA with ``trackeval``) per class.

Ground truth comes from the video records (``category_id`` contiguous, ``ignore[T]`` RLE ignore regions), so
any MOTS dataset with a loader (KITTI-MOTS, BDD100K MOTS, synthetic) is evaluated the same way. Predicted masks
must not overlap in the MOTS formats; where tracks overlap, the higher-scoring one keeps the pixels (as when a
submission is rendered). With ``output_dir`` the predictions are also written as KITTI-MOTS txt files
(``<output_dir>/mots_txt/<video>.txt``, dataset class ids).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

from vidseg.registry import EVALUATOR_REGISTRY
from vidseg.structures.video_instances import VideoInstances

from .base import VideoEvaluatorBase, track_rles
from .mots_metrics import Frame, evaluate_mots
from vidseg.structures.masks import RLE, make_disjoint

logger = logging.getLogger(__name__)


def record_sequence(
    record: Mapping, vi: VideoInstances | None
) -> tuple[list[list[tuple[int, int, RLE]]], list[list[tuple[int, int, RLE]]], list[RLE | None]]:
    """(GT frames, disjoint predicted frames, ignore regions) of a record, class ids contiguous."""
    length = len(record["file_names"])
    gt = [[(int(a["id"]), int(a["category_id"]), a["segmentation"]) for a in (anns or [])]
          for anns in record["annotations"]]
    ignore = list(record.get("ignore") or [None] * length)
    rows = track_rles(vi, length)
    pred: list[list[tuple[int, int, RLE]]] = []
    for t in range(length):
        entries, scores = [], []
        if vi is not None:
            for k, row in enumerate(rows):
                if row[t] is not None:
                    entries.append((int(vi.track_ids[k]), int(vi.labels[k]), row[t]))
                    scores.append(float(vi.scores[k]))
        pred.append([entries[k][:2] + (rle,) for k, rle in make_disjoint([e[2] for e in entries], scores)])
    return gt, pred, ignore


@EVALUATOR_REGISTRY.register()
class MOTSEvaluator(VideoEvaluatorBase):
    """Combined (all classes, detection averaged) and per-class (``<metric>-<class name>``) MOTS metrics."""

    task = "mots"

    def _evaluate(self, records: list[dict], predictions: dict[Any, VideoInstances]) -> dict:
        sequences: dict[str, tuple[list[Frame], list[Frame], list[RLE | None]]] = {}
        for rec in records:
            sequences[str(rec["video_id"])] = record_sequence(rec, predictions.get(rec["video_id"]))
        if self._output_dir:
            self._write_txt(sequences)
        if not self._metadata.get("has_gt", True):
            return {}
        classes = {i: name for i, name in enumerate(self._metadata.get("thing_classes", []))}
        if not classes:
            raise ValueError(f"{self._dataset_name}: metadata has no 'thing_classes' to evaluate MOTS per class")
        metrics, details = evaluate_mots(sequences, classes)
        self._write_json("mots_details.json", {"metrics": metrics, "sequences": details})
        return {self.task: metrics}

    def _write_txt(self, sequences: Mapping[str, tuple[list[Frame], list[Frame], list[RLE | None]]]) -> None:
        from vidseg.data.io.kitti_mots import write_kitti_mots_txt

        to_dataset = {v: k for k, v in (self._metadata.get("thing_dataset_id_to_contiguous_id", {}) or {}).items()}
        root = os.path.join(self._output_dir, "mots_txt")
        for name, (_, pred, _) in sequences.items():
            frames = {t: [(tid, to_dataset.get(cls, cls), rle) for tid, cls, rle in entries]
                      for t, entries in enumerate(pred) if entries}
            write_kitti_mots_txt(os.path.join(root, f"{name}.txt"), frames)
        logger.info("MOTS txt predictions written to %s", root)
