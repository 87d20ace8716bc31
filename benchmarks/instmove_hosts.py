#!/usr/bin/env python
"""Motion priors inside two host trackers on synthetic videos with occlusions and fast motion (paper 000's claim
in miniature, tracker level). CPU.

Videos: 64×64, 16 frames, 3 same-looking objects (ellipses / rectangles) moving fast (3–8 px per frame, reflected
at the borders) in depth order, plus a static occluding pillar; the ground truth is each object's visible mask.
The *host* here is a simulated detector, identical for every prior (same detections, same seeds): each visible
object (≥ 12 px) is detected with its visible mask (missed with p 0.1), score 0.95. Two trackers link them:

- ``MaskIoUTracker`` (per-frame baseline / moseg tracker), prior weight 1;
- ``QueryMatchingTracker`` (IFR / Mask2Former-VIS frame-by-frame mode, MinVIS-style): 6 queries per frame in
  random order, embeddings = weak identity signal + strong noise (same-looking objects), prior weight 0.5.

Priors: none, copy_last, linear, instmove (a checkpoint of ``configs/instmove/synthetic.yaml``, canvas 32; masks
are padded / resized by the prior). Metrics: identity switches, IDF1, MOTA (vidseg's consistency counts, box IoU
≥ 0.5 on visible masks), summed over the videos.

    python benchmarks/instmove_hosts.py --train-iterations 300 --videos 30     # trains the prior first
    python benchmarks/instmove_hosts.py --weights output/instmove/synthetic/model_final.pth   # or a train_net run
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from projects.instmove.synthetic import render_shape  # noqa: E402
from vidseg.config import load_config  # noqa: E402
from vidseg.evaluation.consistency import summarize_counts, video_counts  # noqa: E402
from vidseg.structures.masks import decode_mask, encode_mask  # noqa: E402
from vidseg.tracking import FrameDetections, FrameQueries, MaskIoUTracker, QueryMatchingTracker  # noqa: E402
from vidseg.tracking.motion import build_motion_prior  # noqa: E402

SIZE, LENGTH, OBJECTS, QUERIES = 64, 16, 3, 6
PRIORS = ("none", "copy_last", "linear", "instmove")


def make_video(rng: np.random.Generator) -> list[dict[int, np.ndarray]]:
    """Per frame {object id: visible mask} (objects earlier in the list are in front)."""
    objs = []
    for k in range(OBJECTS):
        r = rng.uniform(5, 9, size=2)
        c = rng.uniform(12, 52, size=2)
        v = rng.uniform(3, 8) * np.array([np.sin(a := rng.uniform(0, 2 * np.pi)), np.cos(a)])
        objs.append({"kind": "ellipse" if rng.random() < 0.5 else "rect", "r": r, "c": c, "v": v})
    pillar = np.zeros((SIZE, SIZE), bool)
    x0 = int(rng.integers(20, 40))
    pillar[:, x0 : x0 + 6] = True
    frames = []
    for _ in range(LENGTH):
        covered = pillar.copy()
        vis = {}
        for k, o in enumerate(objs):
            full = render_shape(SIZE, o["kind"], o["c"][0], o["c"][1], o["r"][0], o["r"][1])
            vis[k + 1] = full & ~covered
            covered |= full
            o["c"] = o["c"] + o["v"]
            for d in range(2):
                if o["c"][d] - o["r"][d] < 0 or o["c"][d] + o["r"][d] > SIZE:
                    o["v"][d] = -o["v"][d]
                    o["c"][d] = float(np.clip(o["c"][d], o["r"][d], SIZE - o["r"][d]))
        frames.append(vis)
    return frames


def detections(video, rng):
    """Per frame: list of (object id, mask) the simulated detector returns (same for every prior)."""
    return [[(k, m) for k, m in vis.items() if m.sum() >= 12 and rng.random() > 0.1] for vis in video]


def boxes(masks):
    out = []
    for m in masks:
        ys, xs = np.nonzero(m)
        out.append([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1])
    return np.asarray(out, float).reshape(-1, 4)


def score(video, tracks_per_frame):
    """tracks_per_frame: per frame list of (track id, mask) -> MOT counts of the video."""
    frames = []
    for vis, hyp in zip(video, tracks_per_frame):
        g = [(k, m) for k, m in vis.items() if m.any()]
        h = [(i, m) for i, m in hyp if m.any()]
        frames.append(([k for k, _ in g], boxes([m for _, m in g]), [i for i, _ in h], boxes([m for _, m in h])))
    return video_counts(frames)


def run_iou_tracker(dets, prior, weight):
    tracker = MaskIoUTracker(motion_prior=prior, motion_weight=weight, bidirectional=False)
    frames = [FrameDetections(masks=np.stack([m for _, m in d]) if d else [], scores=[0.95] * len(d),
                              image_size=(SIZE, SIZE)) for d in dets]
    vi = tracker(frames)
    return [[(tid, decode_mask(row[t]).astype(bool)) for tid, row in zip(vi.track_ids, vi.masks) if row[t] is not None]
            for t in range(LENGTH)]


def run_query_tracker(dets, prior, weight, rng):
    tracker = QueryMatchingTracker(motion_prior=prior, motion_weight=weight, motion_topk=20, topk=QUERIES)
    identity = rng.normal(size=(OBJECTS + 1, 16))
    per_frame = []
    for t, d in enumerate(dets):
        order = rng.permutation(QUERIES)
        masks = torch.full((QUERIES, SIZE, SIZE), -5.0)
        probs = torch.full((QUERIES, 1), 0.02)
        embeds = torch.from_numpy(rng.normal(size=(QUERIES, 16)) * 2.0).float()
        for slot, (k, m) in zip(order, d):
            masks[slot] = torch.from_numpy(m.astype(np.float32) * 10 - 5)
            probs[slot] = 0.95
            embeds[slot] += torch.from_numpy(identity[k]).float()
        ids = tracker.update(t, FrameQueries(probs, masks, embeds))
        per_frame.append([(ids[s], masks[s].numpy() > 0) for s in range(QUERIES) if probs[s] > 0.5])
    tracker.finalize()
    return per_frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="", help="InstMove checkpoint of configs/instmove/synthetic.yaml; empty: "
                    "train that model here for --train-iterations two-step iterations (seed 0, learning-test recipe)")
    ap.add_argument("--train-iterations", type=int, default=300)
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(str(ROOT / "configs" / "instmove" / "synthetic.yaml"))
    if not args.weights:
        import tempfile

        from projects.instmove.model import InstMoveNet
        from projects.instmove.synthetic import train_on_synthetic

        torch.manual_seed(0)
        net = InstMoveNet(cfg)
        train_on_synthetic(net, iterations=args.train_iterations, seed=0, step2_trainable="all_but_memory")
        args.weights = str(Path(tempfile.mkdtemp()) / "instmove_synthetic.pth")
        torch.save({"model": net.state_dict()}, args.weights)
        print(f"trained the reduced InstMove for {args.train_iterations} iterations -> {args.weights}", flush=True)
    cfg.MODEL.INSTMOVE.WEIGHTS = args.weights
    priors = {}
    for name in PRIORS:
        cfg.MODEL.MOTION_PRIOR.NAME = name
        priors[name] = build_motion_prior(cfg)
    print("| host tracker | prior | seed | IDs | IDF1 | MOTA |")
    print("| --- | --- | --- | --- | --- | --- |")
    for host in ("MaskIoUTracker (per-frame baseline)", "QueryMatchingTracker (IFR frame mode)"):
        for name in PRIORS:
            for seed in args.seeds:
                rng = np.random.default_rng(seed)
                counts = []
                for v in range(args.videos):
                    video = make_video(rng)
                    dets = detections(video, rng)
                    if host.startswith("Mask"):
                        hyp = run_iou_tracker(dets, priors[name], 1.0)
                    else:
                        hyp = run_query_tracker(dets, priors[name], 0.5, np.random.default_rng(1000 * seed + v))
                    counts.append(score(video, hyp))
                s = summarize_counts(counts)
                print(f"| {host} | {name} | {seed} | {s['IDs']} | {s['IDF1']:.3f} | {s['MOTA']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
