"""``YTVISEvaluator``: YouTube-VIS / OVIS video AP (the official toolkit's 12 stats AP, AP50, AP75, APs, APm,
APl, AR1, AR10, AR100, ARs, ARm, ARl, undefined ones as NaN / json null, and per-category ``AP-<class>``) plus
the paper-003 temporal-consistency metrics (IDF1, MOTA, IDP, IDR, IDs at score ≥ 0.5).

Always writes the server submission when ``output_dir`` is set: ``results.json`` (dataset category ids, one RLE or
null per frame) and ``results.zip`` for CodaLab. A GT-less split (``has_gt`` false) returns ``{}``.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from vidseg.registry import EVALUATOR_REGISTRY
from vidseg.structures.video_instances import VideoInstances

from .base import VideoEvaluatorBase, gt_tracks, track_rles
from .consistency import evaluate_consistency
from .submission import write_ytvis_submission, ytvis_results
from .ytvis_ap import evaluate_video_ap

logger = logging.getLogger(__name__)

CONSISTENCY_THRESHOLD = 0.5
CONSISTENCY_KEYS = ("IDF1", "MOTA", "IDP", "IDR", "IDs")


def ytvis_inputs(
    records: Sequence[Mapping], predictions: Mapping[Any, VideoInstances]
) -> tuple[list[dict], list[dict]]:
    """Ground-truth and predicted tracks (contiguous category ids) in the form of :mod:`.ytvis_ap`."""
    gt, dt = [], []
    for rec in records:
        for obj in gt_tracks(rec, keep_empty=True):
            gt.append({"video_id": rec["video_id"], **obj})
        vi = predictions.get(rec["video_id"])
        if vi is None:
            continue
        for label, score, segs in zip(vi.labels, vi.scores, track_rles(vi, len(rec["file_names"]))):
            if label < 0:
                raise ValueError(
                    f"video {rec['video_id']!r}: a class-agnostic track (label -1) cannot be scored by YouTube-VIS AP"
                )
            dt.append({"video_id": rec["video_id"], "category_id": int(label), "score": float(score),
                       "segmentations": segs})
    return gt, dt


def ytvis_metrics(
    records: Sequence[Mapping], predictions: Mapping[Any, VideoInstances], class_names: Sequence[str]
) -> tuple[dict[str, float], dict[str, Any]]:
    """AP/AR, per-category AP and consistency metrics of predictions on records (contiguous labels)."""
    gt, dt = ytvis_inputs(records, predictions)
    ap = evaluate_video_ap(gt, dt, video_ids=[r["video_id"] for r in records], category_ids=range(len(class_names)))
    consistency = evaluate_consistency(records, predictions)
    metrics = dict(ap.metrics)
    metrics.update({k: consistency[CONSISTENCY_THRESHOLD][k] for k in CONSISTENCY_KEYS})
    for cat, value in ap.per_category.items():
        metrics[f"AP-{class_names[cat]}"] = value
    details = {
        "per_category_AP": {class_names[c]: v for c, v in ap.per_category.items()},
        "consistency_by_score_threshold": {str(k): v for k, v in consistency.items()},
    }
    return metrics, details


@EVALUATOR_REGISTRY.register()
class YTVISEvaluator(VideoEvaluatorBase):
    """Video AP on a YouTube-VIS-style dataset (metadata ``thing_classes``,
    ``thing_dataset_id_to_contiguous_id`` for the submission, ``has_gt``)."""

    task = "ytvis"

    def _evaluate(self, records: list[dict], predictions: dict[Any, VideoInstances]) -> dict:
        id_map = self._metadata.get("thing_dataset_id_to_contiguous_id", None)
        to_dataset = {v: k for k, v in id_map.items()} if id_map else None
        if self._output_dir:
            json_path, zip_path = write_ytvis_submission(self._output_dir, ytvis_results(records, predictions, to_dataset))
            logger.info("YouTube-VIS submission written to %s and %s", json_path, zip_path)
        if not self._metadata.get("has_gt", True):
            return {}
        class_names = list(self._metadata.get("thing_classes", []))
        if not class_names:
            raise ValueError(f"{self._dataset_name}: metadata has no 'thing_classes'")
        metrics, details = ytvis_metrics(records, predictions, class_names)
        self._write_json("ytvis_details.json", {"metrics": metrics, **details})
        return {self.task: metrics}
