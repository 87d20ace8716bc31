#!/usr/bin/env python
"""Evaluation step of ``make quickstart METHOD=instmove``: an InstMove checkpoint (paper 000) used as the motion
prior of the per-frame baseline's tracker, on the synthetic VIS validation videos.

Two measurements, both through vidseg's registries only (``build_tracker``, ``build_motion_prior``; this script
imports no method package):

1. next-mask prediction: for every ground-truth object and frame t with at least 2 earlier masks, the prior
   predicts the mask at t from the object's last masks (``MotionPrior.predict``); mean IoU with the true mask.
2. tracking: a simulated detector returns each visible ground-truth mask of every ``--stride``-th frame (faster
   motion than the videos' own frame rate), missing each with probability ``--miss`` (seeded by the config's
   ``SEED``), score 0.95; the config's tracker (``MODEL.TRACKER``, the baseline's ``MaskIoUTracker``) links them
   with ``MODEL.MOTION_PRIOR`` set to the prior. Identity switches, IDF1, MOTA from
   ``vidseg.evaluation.consistency`` (box IoU >= 0.5, score >= 0.5).

The same detections are used for every prior. ``--weights ""`` evaluates a randomly initialised InstMove (built
by ``build_model`` with the config's ``SEED``); ``--references`` also measures the priors ``none``, ``copy_last``
and ``linear``. Writes ``{"metrics": {...}, "references": {...}}`` to ``--out``; prints ``Inference done k/n``
per video.

    python tools/quickstart_instmove.py --config-file configs/instmove/quickstart.yaml \
        --weights output/quickstart/instmove/trained/model_final.pth --out details.json --references
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def sub_record(record: dict, stride: int) -> dict:
    """The record restricted to every ``stride``-th frame (frame indices renumbered 0, 1, ...)."""
    out = {k: v for k, v in record.items() if k not in ("gt_tracks", "eval_frames")}
    out["file_names"] = record["file_names"][::stride]
    out["annotations"] = record["annotations"][::stride]
    out["length"] = len(out["file_names"])
    return out


def gt_masks(record: dict) -> list[dict[int, dict]]:
    """Per frame {object id: RLE} of the non-empty, non-crowd ground-truth masks."""
    from vidseg.structures.masks import rle_areas, segm_to_rle

    h, w = record["height"], record["width"]
    frames = []
    for anns in record["annotations"]:
        objs = {a["id"]: segm_to_rle(a["segmentation"], h, w) for a in anns or () if not a.get("iscrowd")}
        areas = rle_areas(list(objs.values())) if objs else []
        frames.append({k: r for (k, r), a in zip(objs.items(), areas) if a > 0})
    return frames


def simulated_detections(frames: list[dict[int, dict]], size, miss: float, rng: np.random.Generator):
    from vidseg.tracking import FrameDetections

    out = []
    for objs in frames:
        keep = [r for _, r in sorted(objs.items()) if rng.random() >= miss]
        out.append(FrameDetections(masks=keep, scores=[0.95] * len(keep), image_size=size))
    return out


def next_mask_ious(prior, frames: list[dict[int, dict]]) -> list[float]:
    """IoU of the prior's prediction with the true mask, for every object and frame with >= 2 earlier masks
    (the object's masks of the consecutive frames before t, at most ``prior.history``)."""
    from vidseg.structures.masks import encode_mask, iou_matrix
    from vidseg.tracking.motion import TrackHistory

    ious = []
    for t in range(2, len(frames)):
        hists, targets = [], []
        for k, target in frames[t].items():
            h = TrackHistory(maxlen=max(prior.history, 2))
            s = t
            while s > 0 and k in frames[s - 1] and t - s < h.maxlen:
                s -= 1
            for u in range(s, t):
                h.append(u, frames[u][k])
            if len(h) >= 2:
                hists.append(h)
                targets.append(target)
        if not hists:
            continue
        for pred, target in zip(prior.predict(hists, t), targets):
            if pred is None:
                continue
            ious.append(float(iou_matrix([encode_mask(pred)], [target])[0, 0]))
    return ious


def evaluate(cfg, prior_name: str, weights: str, videos: list[tuple[dict, list, list]], progress=None,
             overlay: Path | None = None) -> dict:
    from vidseg.evaluation.consistency import evaluate_consistency
    from vidseg.tracking import build_tracker
    from vidseg.tracking.motion import build_motion_prior

    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.MOTION_PRIOR.NAME = prior_name
    if prior_name == "instmove":
        cfg.MODEL.INSTMOVE.WEIGHTS = weights
    prior, tracker = build_motion_prior(cfg), build_tracker(cfg)
    predictions, ious = {}, []
    for i, (record, frames, dets) in enumerate(videos):
        if prior_name != "none":
            ious += next_mask_ious(prior, frames)
        predictions[record["video_id"]] = tracker(dets)
        if progress:
            progress(i + 1)
    s = evaluate_consistency([r for r, _, _ in videos], predictions, thresholds=(0.5,))[0.5]
    if overlay is not None:  # the first video as tracked with this prior, masks coloured by track id
        from detectron2.data import MetadataCatalog

        from vidseg.utils.video_visualizer import write_overlay

        record = videos[0][0]
        overlay.parent.mkdir(parents=True, exist_ok=True)
        write_overlay(record["file_names"], predictions[record["video_id"]], str(overlay),
                      MetadataCatalog.get(cfg.DATASETS.TEST[0]))
    return {"mIoU": float(np.mean(ious)) if ious else None, "IDs": int(s["IDs"]), "IDF1": float(s["IDF1"]),
            "MOTA": float(s["MOTA"])}


def untrained_checkpoint(cfg, path: Path) -> str:
    """A randomly initialised InstMove (the config's meta-architecture, seeded by ``SEED``) saved to ``path``."""
    import torch
    from detectron2.modeling import build_model
    from detectron2.utils.env import seed_all_rng

    seed_all_rng(cfg.SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": build_model(cfg).state_dict()}, path)
    return str(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config-file", required=True)
    ap.add_argument("--weights", default="", help="InstMove checkpoint ('' = random init, seeded)")
    ap.add_argument("--out", required=True, help="details json to write")
    ap.add_argument("--stride", type=int, default=2, help="use every n-th frame (faster motion)")
    ap.add_argument("--miss", type=float, default=0.1, help="probability that the detector misses an object")
    ap.add_argument("--references", action="store_true", help="also the priors none, copy_last, linear")
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = ap.parse_args(argv)
    from detectron2.data import DatasetCatalog

    import vidseg  # noqa: F401  (registers datasets, trackers, priors and the method packages' hooks)
    from vidseg.config import ConfigError, load_config

    try:
        cfg = load_config(args.config_file, args.opts)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    weights = args.weights or untrained_checkpoint(cfg, out.parent / "model_init.pth")
    rng = np.random.default_rng(cfg.SEED)
    videos = []
    for name in cfg.DATASETS.TEST:
        for record in DatasetCatalog.get(name):
            rec = sub_record(record, args.stride)
            frames = gt_masks(rec)
            videos.append((rec, frames, simulated_detections(frames, (rec["height"], rec["width"]), args.miss, rng)))
    n = len(videos)
    overlay = out.parent / "overlays" / f"{videos[0][0]['video_id']}.mp4" if args.weights else None
    result = {"metrics": evaluate(cfg, "instmove", weights, videos,
                                  lambda k: print(f"Inference done {k}/{n}", flush=True), overlay),
              "references": {}, "stride": args.stride, "miss": args.miss, "weights": weights}
    if args.references:
        for name in ("none", "copy_last", "linear"):
            result["references"][name] = evaluate(cfg, name, "", videos)
            print(f"reference prior {name}: {result['references'][name]}", flush=True)
    print(f"instmove: {result['metrics']}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
