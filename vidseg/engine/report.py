"""Every evaluation result reaches the log and a json file (issue 15, item 10): detectron2's ``print_csv_format``
drops every metric whose name contains ``-`` (e.g. the VOS ``J&F-Mean``) and ``--eval-only`` writes no
``metrics.json``; a GT-less split says where its predictions went instead of printing nothing."""
from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Mapping

from detectron2.config import CfgNode
from detectron2.utils.events import get_event_storage

__all__ = ["report_results", "flatten_metrics", "copypaste_lines"]

logger = logging.getLogger(__name__)


def flatten_metrics(results: Mapping[str, Any], prefix: str = "") -> dict[str, float | None]:
    """``{task: {metric: value}}`` -> ``{"task/metric": value}``; NaN/Inf -> None (json null)."""
    out: dict[str, float | None] = {}
    for k, v in results.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_metrics(v, f"{key}/"))
        else:
            try:
                value = float(v)
            except (TypeError, ValueError):
                continue
            out[key] = value if math.isfinite(value) else None
    return out


def copypaste_lines(results: Mapping[str, Any]) -> list[str]:
    """Per task: ``Task: <task>``, the metric names, the values (4 decimals, ``nan`` where undefined)."""
    lines = []
    for task, res in results.items():
        if not isinstance(res, Mapping):
            lines.append(f"{task}={res}")
            continue
        flat = flatten_metrics(res)
        lines += [f"Task: {task}", ",".join(flat),
                  ",".join("nan" if v is None else f"{v:.4f}" for v in flat.values())]
    return lines


def _in_training() -> bool:
    try:
        get_event_storage()
    except AssertionError:
        return False
    return True


def report_results(cfg: CfgNode, dataset_name: str, results: Mapping[str, Any]) -> None:
    """Log all metrics (``copypaste:`` lines) and write ``inference/<dataset>/metrics.json``; outside training
    (``--eval-only``) also append them as one line to ``OUTPUT_DIR/metrics.json`` (training gets them there
    from detectron2's ``EvalHook``). Empty results (a GT-less split) log where the outputs are."""
    folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
    if not results:
        logger.warning("%s has no ground truth: no metrics; predictions / submission files are in %s",
                       dataset_name, folder)
        return
    logger.info("Evaluation results for %s in csv format:", dataset_name)
    for line in copypaste_lines(results):
        logger.info("copypaste: %s", line)
    flat = flatten_metrics(results)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "metrics.json"), "w") as f:
        json.dump(flat, f, indent=1)
    if not _in_training():
        with open(os.path.join(cfg.OUTPUT_DIR, "metrics.json"), "a") as f:
            f.write(json.dumps({"eval_dataset": dataset_name, **flat}) + "\n")
