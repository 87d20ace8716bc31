"""Command line: evaluate files in the official formats and print one JSON object ``{metric: value}`` (fractions;
undefined values as ``null``) on stdout; ``--out FILE`` writes the metrics plus per-video / per-object detail.

- ``ytvis --gt instances.json --pred results.json``: YouTube-VIS / OVIS json and a server results json.
- ``vos --gt DIR --pred DIR [--protocol davis|davis_binary|ytvos] [--workers N]``: DAVIS layout
  ``<DIR>/<sequence>/<frame>.png`` indexed PNGs (GT 255 = void); predictions for every GT frame.
- ``fbms --gt DIR --pred DIR``: ``<DIR>/<sequence>/<frame>.png`` label PNGs of the annotated frames (0 =
  background); predictions for the same frame names.
- ``mots --gt DIR --pred DIR [--classes 1:car,2:pedestrian] [--ignore-class 10]``: KITTI-MOTS txt folders
  ``<DIR>/<sequence>.txt`` (``<DIR>/instances_txt/`` is also accepted for the ground truth).
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vidseg.structures.masks import iou_matrix, merge

from .base import check_predictions, to_jsonable

logger = logging.getLogger("vidseg.evaluation")
_CALLS = itertools.count()


def _seq_dirs(root: Path, what: str) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: {what} folder not found (expected <folder>/<sequence>/<frame>.png)")
    dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not dirs:
        raise FileNotFoundError(f"{root}: no sequence folders in the {what} folder")
    return dirs


def _paired_pngs(gt_dir: Path, pred_root: Path) -> tuple[list[str], list[str]]:
    gt = sorted(gt_dir.glob("*.png"))
    if not gt:
        raise FileNotFoundError(f"{gt_dir}: no ground-truth PNGs")
    pred = [pred_root / gt_dir.name / p.name for p in gt]
    missing = [p for p in pred if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: prediction PNG missing (one per ground-truth frame expected)")
    return [str(p) for p in gt], [str(p) for p in pred]


def run_vos(args: argparse.Namespace) -> tuple[dict, dict]:
    from .vos_sequences import PNGLabels, SequenceJob, run_jobs, summarize

    jobs = []
    for seq in _seq_dirs(Path(args.gt), "ground-truth"):
        gt, pred = _paired_pngs(seq, Path(args.pred))
        jobs.append(SequenceJob(name=seq.name, gt=PNGLabels(gt, void_to_background=True), pred=PNGLabels(pred),
                                pred_index=list(range(len(gt)))))
    results = run_jobs(jobs, args.protocol, num_workers=args.workers)
    return summarize(results, args.protocol)


def run_fbms(args: argparse.Namespace) -> tuple[dict, dict]:
    from vidseg.data.io.png import read_indexed_png

    from .fbms import evaluate_video, summarize_fbms

    per_video = {}
    for seq in _seq_dirs(Path(args.gt), "ground-truth"):
        gt_paths, pred_paths = _paired_pngs(seq, Path(args.pred))
        gt = np.stack([read_indexed_png(p) for p in gt_paths])
        pred = np.stack([read_indexed_png(p) for p in pred_paths])
        if gt.shape != pred.shape:
            raise ValueError(f"{seq.name}: prediction PNGs are {pred.shape[1:]} but the ground truth {gt.shape[1:]}")
        per_video[seq.name] = evaluate_video(gt, pred, args.object_threshold)
    return summarize_fbms(per_video, args.object_threshold), per_video


def _read_mots(path: Path, ignore_class: int | None, *, check_overlap: bool) -> tuple[dict, dict]:
    from vidseg.data.io.kitti_mots import read_kitti_mots_txt

    entries = read_kitti_mots_txt(path)
    dets: dict[int, list] = {}
    ignore: dict[int, dict] = {}
    for t, items in entries.items():
        regions = [rle for _, c, rle in items if c == ignore_class]
        objs = [(i, c, rle) for i, c, rle in items if c != ignore_class]
        ids = [i for i, _, _ in objs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{path}: frame {t} has a repeated object id (ids must be unique per frame)")
        if check_overlap and len(objs) > 1:
            rles = [r for _, _, r in objs]
            inter = iou_matrix(rles, rles)
            np.fill_diagonal(inter, 0)
            if (inter > 0).any():
                raise ValueError(f"{path}: frame {t} has overlapping masks (MOTS predictions must be disjoint)")
        dets[t] = objs
        if regions:
            ignore[t] = merge(regions)
    return dets, ignore


def run_mots(args: argparse.Namespace) -> tuple[dict, dict]:
    from .mots_metrics import evaluate_mots

    gt_root = Path(args.gt)
    if (gt_root / "instances_txt").is_dir():
        gt_root = gt_root / "instances_txt"
    gt_files = sorted(gt_root.glob("*.txt"))
    if not gt_files:
        raise FileNotFoundError(f"{gt_root}: no ground-truth .txt files (KITTI-MOTS instances_txt layout expected)")
    classes = {}
    for item in args.classes.split(","):
        cid, _, name = item.partition(":")
        classes[int(cid)] = name or cid
    sequences = {}
    for gt_file in gt_files:
        pred_file = Path(args.pred) / gt_file.name
        if not pred_file.is_file():
            raise FileNotFoundError(f"{pred_file}: prediction txt missing (an empty file means no predictions)")
        gt, ign = _read_mots(gt_file, args.ignore_class, check_overlap=False)
        pred, _ = _read_mots(pred_file, None, check_overlap=True)
        sizes = {tuple(r["size"]) for items in (*gt.values(), *pred.values()) for _, _, r in items}
        if len(sizes) > 1:
            raise ValueError(f"{pred_file}: masks of sizes {sorted(sizes)} in one sequence (predict at the original "
                             f"resolution of {gt_file.name})")
        length = max([*gt, *pred, -1]) + 1
        sequences[gt_file.stem] = (
            [gt.get(t, []) for t in range(length)],
            [pred.get(t, []) for t in range(length)],
            [ign.get(t) for t in range(length)],
        )
    return evaluate_mots(sequences, classes)


def run_ytvis(args: argparse.Namespace) -> tuple[dict, dict]:
    from detectron2.data import MetadataCatalog

    name = f"__vidseg_eval_cli_{os.getpid()}_{next(_CALLS)}"  # fresh per call: main() may run many times
    try:
        return _ytvis_metrics_of_files(args, name)
    finally:
        if name in MetadataCatalog.list():  # not created when the ground-truth json failed to load
            MetadataCatalog.remove(name)


def _ytvis_metrics_of_files(args: argparse.Namespace, name: str) -> tuple[dict, dict]:
    from detectron2.data import MetadataCatalog

    from vidseg.data.datasets.ytvis import load_ytvis_json
    from vidseg.structures.video_instances import VideoInstances

    from .ytvis import ytvis_metrics

    records = load_ytvis_json(args.gt, Path(args.gt).parent, name, require_annotations=True)
    meta = MetadataCatalog.get(name)
    to_contiguous = meta.thing_dataset_id_to_contiguous_id
    results = _read_json(args.pred)
    if not isinstance(results, list):
        raise ValueError(f"{args.pred}: expected a json list of {{video_id, category_id, score, segmentations}}")
    by_video = {r["video_id"]: r for r in records}
    grouped: dict[Any, list[dict]] = {}
    for i, res in enumerate(results):
        if not isinstance(res, dict) or any(k not in res for k in ("video_id", "category_id", "score", "segmentations")):
            raise ValueError(f"{args.pred}: entry {i} lacks one of video_id, category_id, score, segmentations "
                             f"(got {sorted(res) if isinstance(res, dict) else type(res).__name__})")
        score = res["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"{args.pred}: entry {i} has score {score!r} (expected a finite number)")
        rec = by_video.get(res.get("video_id"))
        if rec is None:
            raise ValueError(f"{args.pred}: entry {i} has video_id {res.get('video_id')!r}, not a video of {args.gt}")
        if res.get("category_id") not in to_contiguous:
            raise ValueError(f"{args.pred}: entry {i} has category_id {res.get('category_id')!r}, not in {args.gt}")
        segs = res.get("segmentations")
        if not isinstance(segs, list) or len(segs) != len(rec["file_names"]):
            raise ValueError(f"{args.pred}: entry {i} needs one segmentation per frame ({len(rec['file_names'])})")
        res = {**res, "segmentations": [_result_rle(args.pred, i, t, s, rec) for t, s in enumerate(segs)]}
        grouped.setdefault(rec["video_id"], []).append(res)
    pairs = []
    for vid, items in grouped.items():
        rec = by_video[vid]
        pairs.append((vid, VideoInstances(
            image_size=(rec["height"], rec["width"]), frame_idx=list(range(len(rec["file_names"]))),
            track_ids=list(range(1, len(items) + 1)), scores=[float(r["score"]) for r in items],
            labels=[to_contiguous[r["category_id"]] for r in items], masks=[r["segmentations"] for r in items])))
    predictions = check_predictions(str(args.gt), records, pairs)
    return ytvis_metrics(records, predictions, list(meta.thing_classes))


def _read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid json ({e.msg} at line {e.lineno}, column {e.colno})") from None


def _result_rle(path: str, i: int, t: int, segm: Any, rec: dict) -> dict | None:
    """One frame of a result entry as an RLE (polygons are rasterised at the video size, as the official API
    does); ``ValueError`` naming the file, entry and frame for a wrong size or malformed RLE."""
    from vidseg.structures.masks import segm_to_rle

    h, w = int(rec["height"]), int(rec["width"])
    if isinstance(segm, dict) and "size" in segm and [int(v) for v in segm["size"]] != [h, w]:
        raise ValueError(f"{path}: entry {i} has a {segm['size']} mask for video {rec['video_id']!r} of size "
                         f"{[h, w]} (masks must be at the original resolution)")
    try:
        return segm_to_rle(segm, h, w)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: entry {i} frame {t}: {e}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vidseg.evaluation", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="task", required=True)
    for task, helps in (("ytvis", ("instances json", "results json")), ("vos", ("GT PNG folder", "prediction PNG folder")),
                        ("fbms", ("GT PNG folder", "prediction PNG folder")), ("mots", ("GT txt folder", "prediction txt folder"))):
        p = sub.add_parser(task)
        p.add_argument("--gt", required=True, help=helps[0])
        p.add_argument("--pred", required=True, help=helps[1])
        p.add_argument("--out", help="write metrics and per-video / per-object detail as json")
        if task == "vos":
            p.add_argument("--protocol", default="davis", choices=("davis", "davis_binary", "ytvos"))
            p.add_argument("--workers", type=int, default=None, help="processes over sequences (default: CPUs)")
        if task == "fbms":
            p.add_argument("--object-threshold", type=float, default=0.75)
        if task == "mots":
            p.add_argument("--classes", default="1:car,2:pedestrian", help="class_id:name pairs to evaluate")
            p.add_argument("--ignore-class", type=int, default=10, help="ground-truth class id of ignore regions")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    runner = {"ytvis": run_ytvis, "vos": run_vos, "fbms": run_fbms, "mots": run_mots}[args.task]
    try:
        metrics, details = runner(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(to_jsonable({"metrics": metrics, "details": details})))
    print(json.dumps(to_jsonable(metrics)))
    return 0
