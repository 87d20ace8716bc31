#!/usr/bin/env python
"""Miniature of paper 001's claim: flow lets the detector ignore static objects that look like movers.

Synthetic FBMS-format videos (written with the real writers, read with the real loader): 2–3 textured shapes
move, one static distractor has the look of a mover's class; ground truth labels the movers only; flow is exact.
Seeded, on CPU, with the tiny backbone of ``configs/tests/moseg_*.yaml`` trained from scratch:

- **appearance-only** (stage A, RGB, "Ours-A"), tracked alone;
- **joint** = the paper's recipe in miniature: stage B (motion-only on flow), then the two-stream model assembled
  from A (appearance backbone + heads) and B (motion backbone), both backbones and the mask head frozen, fusion +
  RPN + box head trained (stage C), tracked with the static branch (A's heads) as in ``configs/moseg/fbms.yaml``.

Reported on the val split: FBMS P/R/F (paper metric, tracked with the paper's thresholds), and per frame with
forward flow (all but the last) from the detections scoring > 0.5 (moving detections only): the static
false-positive rate (visible distractor instances covered >= 50 % by those detections), the fraction of distractor
pixels covered, and the mover recall at the same criterion.

    python benchmarks/moseg_static_fp.py [--iters 300] [--joint-iters 400] [--train-videos 96] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.solver import build_lr_scheduler
from detectron2.utils.events import EventStorage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import vidseg.data  # noqa: E402,F401  (registers datasets)
from vidseg.config import load_config  # noqa: E402
from vidseg.data.build import build_video_test_loader, build_video_train_loader  # noqa: E402
from vidseg.data.datasets.fbms import load_fbms  # noqa: E402
from vidseg.data.datasets.synthetic.generate import TASK_SCENES  # noqa: E402
from vidseg.data.datasets.synthetic.render import render_video  # noqa: E402
from vidseg.data.datasets.synthetic.writers import write_fbms  # noqa: E402
from vidseg.engine import VideoTrainer  # noqa: E402
from vidseg.evaluation import FBMSEvaluator  # noqa: E402
from vidseg.solver import build_optimizer  # noqa: E402
from vidseg.structures.video_instances import decode_mask  # noqa: E402

SPLITS = {"train": "Trainingset", "val": "Testset"}
SCORE = 0.5
COVER = 0.5


def make_data(root: Path, *, train_videos: int, val_videos: int, frames: int, height: int, width: int) -> dict:
    """Render and write both splits; register ``moseg_bench_{train,val}``; return the val SynthVideos."""
    rendered = {}
    for split, n in (("train", train_videos), ("val", val_videos)):
        videos = [render_video((2019, 1 if split == "train" else 2, i), num_frames=frames, height=height,
                               width=width, motion_mode=("bounce", "enter", "leave")[i % 3], **TASK_SCENES["moseg"])
                  for i in range(n)]
        write_fbms(root, videos, split_dir=SPLITS[split], every=1 if split == "train" else 2)
        name = f"moseg_bench_{split}"
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        DatasetCatalog.register(name, lambda s=split, nm=name: [
            dict(r, dataset_name=nm) for r in load_fbms(root, split=SPLITS[s], flow_root=root / "flow")])
        MetadataCatalog.get(name).set(evaluator_type="FBMSEvaluator", task="moseg", thing_classes=["object"],
                                      has_gt=True, thing_dataset_id_to_contiguous_id={1: 0})
        rendered[split] = videos
    return rendered


def stage_cfg(stage: str, out: Path, args: argparse.Namespace, *opts: str, iters: int = 0, lr: float = 0.0):
    """The tiny ``configs/tests/moseg_<stage>.yaml`` on the benchmark data with its solver (``iters``/``lr``
    default to ``--iters``/``--lr``) and the motion-input normalisation ``--motion-std``."""
    size = [f"({args.height},)", str(max(args.height, args.width))]
    iters, lr = iters or args.iters, lr or args.lr
    cfg = load_config(str(ROOT / "configs" / "tests" / f"moseg_{stage}.yaml"), [
        "DATASETS.TRAIN", "('moseg_bench_train',)", "DATASETS.TEST", "('moseg_bench_val',)",
        "INPUT.MIN_SIZE_TRAIN", size[0], "INPUT.MAX_SIZE_TRAIN", size[1],
        "INPUT.MIN_SIZE_TEST", str(args.height), "INPUT.MAX_SIZE_TEST", size[1],
        "INPUT.MAPPER.TEST", "FlowFrameMapper", "SOLVER.IMS_PER_BATCH", str(args.batch),
        "SOLVER.BASE_LR", str(lr), "SOLVER.MAX_ITER", str(iters),
        "SOLVER.STEPS", f"({int(iters * 0.8)},)", "SOLVER.WARMUP_ITERS", "20", "SEED", str(args.seed),
        "MODEL.MOSEG.MOTION_PIXEL_STD", str(list(args.motion_std)),
        "MODEL.RPN.POST_NMS_TOPK_TRAIN", "100", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "64",
        "OUTPUT_DIR", str(out / stage), *opts])
    cfg.freeze()
    return cfg


def train(cfg, log: str) -> torch.nn.Module:
    """A plain seeded training loop (no hooks); returns the model in eval mode."""
    torch.manual_seed(cfg.SEED)
    np.random.seed(cfg.SEED)
    model = VideoTrainer.build_model(cfg)
    model.train()
    opt = build_optimizer(cfg, model)
    sched = build_lr_scheduler(cfg, opt)
    loader = iter(build_video_train_loader(cfg))
    start = time.time()
    with EventStorage(0) as storage:
        for it in range(cfg.SOLVER.MAX_ITER):
            storage.iter = it
            losses = model(next(loader))
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()
            sched.step()
            if (it + 1) % max(cfg.SOLVER.MAX_ITER // 4, 1) == 0:
                parts = " ".join(f"{k[5:]}={v.item():.3f}" for k, v in losses.items())
                print(f"  [{log}] iter {it + 1}/{cfg.SOLVER.MAX_ITER} {parts} ({time.time() - start:.0f}s)", flush=True)
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    path = os.path.join(cfg.OUTPUT_DIR, "model_final.pth")
    torch.save({"model": model.state_dict()}, path)
    return model.eval()


def evaluate(model, cfg, val_videos) -> dict:
    """FBMS P/R/F (tracked) and the per-frame static false positives of the moving detections."""
    loader = build_video_test_loader(cfg, "moseg_bench_val")
    evaluator = FBMSEvaluator("moseg_bench_val", distributed=False)
    evaluator.reset()
    hit_d = n_d = hit_m = n_m = 0
    pix_d = pix_tot = 0.0
    by_id = {f"seq{i:03d}": v for i, v in enumerate(val_videos)}
    with torch.no_grad():
        for (video,) in loader:
            dets = model.detect_video(video)
            evaluator.process([video], [{"video_instances": model.tracker(dets, frame_idx=video["frame_idx"])}])
            synth = by_id[video["video_id"]]
            for t, det in enumerate(dets[:-1]):  # the last frame has no flow: only static detections there
                keep = [i for i in range(len(det)) if det.scores[i] > SCORE and not det.is_static[i]]
                fg = np.zeros(det.image_size, bool)
                for i in keep:
                    fg |= decode_mask(det.rles[i]).astype(bool)
                d = synth.distractor_masks[t]
                if d.sum() >= 20:
                    n_d += 1
                    cover = (fg & d).sum() / d.sum()
                    hit_d += cover >= COVER
                    pix_d += (fg & d).sum()
                    pix_tot += d.sum()
                for m in synth.masks[:, t]:
                    if m.sum() >= 20:
                        n_m += 1
                        hit_m += (fg & m).sum() / m.sum() >= COVER
    fbms = evaluator.evaluate()["fbms"]
    return {"P": fbms["P"], "R": fbms["R"], "F": fbms["F"], "static_fp": hit_d / max(n_d, 1),
            "static_fp_pixels": pix_d / max(pix_tot, 1.0), "mover_recall": hit_m / max(n_m, 1), "frames": n_d}


def run(args: argparse.Namespace) -> dict[str, dict]:
    torch.set_num_threads(args.threads)
    out = Path(args.out or tempfile.mkdtemp(prefix="moseg_bench_"))
    t0 = time.time()
    val = make_data(out / "data", train_videos=args.train_videos, val_videos=args.val_videos, frames=args.frames,
                    height=args.height, width=args.width)["val"]
    print(f"data: {args.train_videos} train / {args.val_videos} val videos of {args.frames} frames "
          f"{args.height}x{args.width} under {out / 'data'} ({time.time() - t0:.0f}s)", flush=True)
    app_cfg = stage_cfg("appearance", out, args)
    appearance = train(app_cfg, "A appearance")
    train(stage_cfg("motion", out, args), "B motion")
    joint_cfg = stage_cfg("fbms", out, args,
                          "MODEL.MOSEG.APPEARANCE_WEIGHTS", str(out / "appearance" / "model_final.pth"),
                          "MODEL.MOSEG.MOTION_WEIGHTS", str(out / "motion" / "model_final.pth"),
                          iters=args.joint_iters, lr=args.joint_lr)
    joint = train(joint_cfg, "C joint")
    results = {"appearance-only": evaluate(appearance, app_cfg, val),
               "joint (two-stream)": evaluate(joint, joint_cfg, val)}
    print(f"\nmoseg static false positives (seed {args.seed}, A/B {args.iters} + C {args.joint_iters} iters, "
          f"{time.time() - t0:.0f}s total)")
    print(f"{'model':<20} {'P':>6} {'R':>6} {'F':>6} {'static FP':>10} {'FP pixels':>10} {'mover rec':>10}")
    for name, r in results.items():
        print(f"{name:<20} {100 * r['P']:6.1f} {100 * r['R']:6.1f} {100 * r['F']:6.1f} {100 * r['static_fp']:9.1f}% "
              f"{100 * r['static_fp_pixels']:9.1f}% {100 * r['mover_recall']:9.1f}%")
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iters", type=int, default=300, help="iterations of stages A and B")
    p.add_argument("--joint-iters", type=int, default=400, help="iterations of stage C")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.002, help="AdamW LR of stages A and B")
    p.add_argument("--joint-lr", type=float, default=0.004, help="AdamW LR of stage C (fresh fusion adaptor)")
    p.add_argument("--motion-std", type=float, nargs=3, default=(1.0, 0.1, 64.0),
                   help="MODEL.MOSEG.MOTION_PIXEL_STD: brings the [0, 6·|f|/D, angle 0..255] channels to ~unit range "
                        "(the official code uses 1 1 1; see README)")
    p.add_argument("--train-videos", type=int, default=96)
    p.add_argument("--val-videos", type=int, default=8)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared machine)")
    p.add_argument("--out", default="", help="work folder (default: a new temp folder)")
    return p.parse_args(argv)


if __name__ == "__main__":
    run(parse_args())
