"""Sequence-level VOS evaluation: label sources (RLEs or PNG files), protocols, multi-process runner, summary.

Protocols (dataset metadata ``vos_protocol``):

- ``davis`` (semi-supervised DAVIS 2016 / 2017 toolkit): objects = labels present in the first annotated GT
  frame; the first and last annotated frames are excluded; void (255) counts as background (the toolkit passes
  no void mask in semi-supervised mode); a predicted label that is not a GT object is an error, missing ones
  are empty masks.
- ``davis_binary`` (DAVIS 2016 fg/bg, e.g. moving-object segmentation): the union of all GT objects against the
  union of all predicted tracks, as one object; first and last annotated frames excluded.
- ``ytvos`` (YouTube-VOS server): every object is scored on the annotated frames after the one where it first
  appears (the last frame included); J / F split into seen / unseen objects, ``G`` = mean of the four.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Sequence

import cv2
import numpy as np
import pycocotools.mask as mask_util

from .vos_metrics import BOUND_TH, evaluate_objects, statistics

PROTOCOLS = ("davis", "davis_binary", "ytvos")
VOID_LABEL = 255
PARALLEL_MIN_PIXELS = 5e7  # ~120 frames at 480p


@dataclass
class RLELabels:
    """Label maps painted from RLEs: ``frames[t]`` = [(label, RLE), ...], later entries painted over earlier."""

    height: int
    width: int
    frames: list[list[tuple[int, dict]]]

    def load(self, index: Sequence[int]) -> np.ndarray:
        """len(index)×H×W label volume (uint8 when every label fits, else int32).

        Frames are stored column-major (the RLE order: each frame is an F-contiguous H×W view), which makes
        painting decoded masks a contiguous copy.
        """
        labels = [lab for t in index for lab, _ in self.frames[t]]
        dtype = np.uint8 if not labels or max(labels) <= 255 else np.int32
        out = np.zeros((len(index), self.width, self.height), dtype=dtype)
        for i, t in enumerate(index):
            entries = self.frames[t]
            if not entries:
                continue
            masks = mask_util.decode([rle for _, rle in entries])  # H×W×N, Fortran order
            for k, (lab, _) in enumerate(entries):
                out[i][masks[:, :, k].T.view(bool)] = lab
        return out.transpose(0, 2, 1)


@dataclass
class PNGLabels:
    """Label maps read from indexed PNG files (``void_to_background`` maps 255 to 0, for ground truth)."""

    paths: list[str]
    void_to_background: bool = False

    def load(self, index: Sequence[int]) -> np.ndarray:
        from vidseg.data.io.png import read_indexed_png

        maps = [read_indexed_png(self.paths[t]) for t in index]
        shapes = {m.shape for m in maps}
        if len(shapes) > 1:
            raise ValueError(f"PNG label maps of one sequence differ in size: {sorted(shapes)} ({self.paths[index[0]]})")
        out = np.stack(maps) if maps else np.zeros((0, 0, 0), np.uint8)
        if self.void_to_background:
            out[out == VOID_LABEL] = 0
        return out


@dataclass
class SequenceJob:
    """One sequence: GT of its F annotated frames and the prediction source (indexed by ``pred_index``)."""

    name: str
    gt: RLELabels | PNGLabels
    pred: RLELabels | PNGLabels
    pred_index: list[int]
    unseen: frozenset[int] = field(default_factory=frozenset)


@dataclass
class SequenceResult:
    """Per-object per-frame J and F of one sequence; ``unseen`` objects belong to unseen categories."""

    name: str
    objects: dict[int, tuple[list[float], list[float]]]
    unseen: frozenset[int]


def labels_present(labels: np.ndarray) -> list[int]:
    """Sorted non-zero labels of an H×W or T×H×W integer array (uint8: OpenCV histograms, frame by frame)."""
    if labels.dtype != np.uint8:
        return [int(i) for i in np.unique(labels) if i != 0]
    frames = labels.reshape(-1, *labels.shape[-2:]) if labels.ndim >= 2 else labels.reshape(1, 1, -1)
    hist = np.zeros(256)
    for f in frames:
        f = f if f.flags.c_contiguous else (f.T if f.T.flags.c_contiguous else np.ascontiguousarray(f))
        hist += cv2.calcHist([f], [0], None, [256], [0, 256]).ravel()
    return [int(i) for i in np.flatnonzero(hist) if i != 0]


def plan_objects(gt: np.ndarray, protocol: str) -> dict[int, list[int]]:
    """Object id -> positions (into the F annotated frames) to score, for a GT label volume F×H×W."""
    n = gt.shape[0]
    if protocol == "davis":
        if n == 0:
            return {}
        ids = labels_present(gt[0])
        return {i: list(range(1, n - 1)) for i in ids}
    if protocol == "davis_binary":
        return {1: list(range(1, n - 1))}
    if protocol == "ytvos":
        plan = {}
        for t in range(n):
            for i in labels_present(gt[t]):
                if i not in plan:
                    plan[int(i)] = list(range(t + 1, n))
        return plan
    raise ValueError(f"unknown VOS protocol {protocol!r}; expected one of {PROTOCOLS}")


def evaluate_sequence(job: SequenceJob, protocol: str, bound_th: float = BOUND_TH) -> SequenceResult:
    """Load a sequence, apply the protocol and return per-frame J / F of each object."""
    gt = job.gt.load(range(len(job.pred_index)))
    pred = job.pred.load(job.pred_index)
    if gt.shape != pred.shape:
        raise ValueError(
            f"{job.name}: prediction is {pred.shape[1:]} per frame but the ground truth is {gt.shape[1:]} "
            f"({pred.shape[0]} vs {gt.shape[0]} frames)"
        )
    if protocol == "davis_binary":
        gt, pred = (gt > 0).astype(np.uint8), (pred > 0).astype(np.uint8)
    plan = plan_objects(gt, protocol)
    if protocol != "davis_binary":
        extra = sorted(set(labels_present(pred)) - set(plan))
        if extra:
            raise ValueError(
                f"{job.name}: predicted object id {extra[0]} is not a ground-truth object (objects: {sorted(plan)})"
            )
    scores = evaluate_objects(gt, pred, plan, bound_th=bound_th)
    return SequenceResult(
        name=job.name,
        objects={k: (j.tolist(), f.tolist()) for k, (j, f) in scores.items()},
        unseen=job.unseen,
    )


def run_jobs(
    jobs: Sequence[SequenceJob], protocol: str, *, num_workers: int | None = None, bound_th: float = BOUND_TH
) -> list[SequenceResult]:
    """Evaluate sequences, in ``num_workers`` processes when there are several (default: CPU count, and
    in-process for small inputs, below ``PARALLEL_MIN_PIXELS`` frame pixels in total, where start-up costs
    more than it saves)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown VOS protocol {protocol!r}; expected one of {PROTOCOLS}")
    if num_workers is None:
        small = sum(_job_pixels(j) for j in jobs) < PARALLEL_MIN_PIXELS
        num_workers = 1 if small else (os.cpu_count() or 1)
    workers = min(len(jobs), num_workers)
    fn = partial(evaluate_sequence, protocol=protocol, bound_th=bound_th)
    if workers <= 1:
        return [fn(j) for j in jobs]
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method)) as pool:
        return list(pool.map(fn, jobs))


def _job_pixels(job: SequenceJob) -> float:
    """Frame pixels a job evaluates (PNG sources: unknown before reading, counted as large)."""
    if isinstance(job.gt, RLELabels):
        return float(len(job.pred_index) * job.gt.height * job.gt.width)
    return float("inf")


def _nanmean(values: Sequence[float]) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def summarize(results: Sequence[SequenceResult], protocol: str) -> tuple[dict[str, float], dict[str, Any]]:
    """Dataset metrics (means over all objects, as the DAVIS toolkit) and per-sequence / per-object detail."""
    rows = []
    details: dict[str, Any] = {}
    for res in results:
        per_obj = {}
        for obj, (j_vals, f_vals) in sorted(res.objects.items()):
            jm, jr, jd = statistics(j_vals)
            fm, fr, fd = statistics(f_vals)
            row = {"J-Mean": jm, "J-Recall": jr, "J-Decay": jd, "F-Mean": fm, "F-Recall": fr, "F-Decay": fd,
                   "J&F-Mean": (jm + fm) / 2, "unseen": obj in res.unseen, "J": j_vals, "F": f_vals}
            per_obj[str(obj)] = row
            rows.append(row)
        details[res.name] = {
            "objects": per_obj,
            "J-Mean": _nanmean([r["J-Mean"] for r in per_obj.values()]),
            "F-Mean": _nanmean([r["F-Mean"] for r in per_obj.values()]),
        }
        details[res.name]["J&F-Mean"] = (details[res.name]["J-Mean"] + details[res.name]["F-Mean"]) / 2
    metrics = {k: _nanmean([r[k] for r in rows]) for k in
               ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")}
    metrics = {"J&F-Mean": (metrics["J-Mean"] + metrics["F-Mean"]) / 2, **metrics}
    if protocol == "ytvos":
        for split, flag in (("seen", False), ("unseen", True)):
            sel = [r for r in rows if r["unseen"] == flag]
            metrics[f"J-{split}"] = _nanmean([r["J-Mean"] for r in sel])
            metrics[f"F-{split}"] = _nanmean([r["F-Mean"] for r in sel])
        metrics["G"] = _nanmean([metrics[k] for k in ("J-seen", "F-seen", "J-unseen", "F-unseen")])
    return metrics, details
