#!/usr/bin/env python
"""Per-frame cost of the motion priors for 10 tracks at 360×640 mask resolution (paper 000 plug-in, issue 11):
``prior.predict`` on 10 track histories of 4 masks each, for ``copy_last``, ``linear`` and ``instmove`` (the
reduced synthetic model, canvas 32, and the official-size network, canvas 384, random weights: the cost does not
depend on the weights), beside the mask-IoU tracker's own association time for the same frame (10 tracks × 10
detections) and the host network's own time for one 360×640 frame (per-frame Mask R-CNN R50-FPN of
``configs/baseline/r50_fpn.yaml``, random weights, so few detections are pasted: a lower bound). With
``--prior-weights`` the trained prior of ``benchmarks/instmove_hosts.py`` (canvas ``--prior-size``) is timed too.
CPU; the machine is shared, so figures are "measured under load".

    python benchmarks/instmove_overhead.py [--threads 2] [--repeats 5] [--skip-full] [--skip-host]
    python benchmarks/instmove_overhead.py --prior-weights output/instmove_hosts/prior_s48.pth --prior-size 48
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from projects.instmove.model import InstMoveNet  # noqa: E402
from projects.instmove.prior import InstMovePrior  # noqa: E402
from vidseg.config import get_cfg, load_config  # noqa: E402
from vidseg.structures.masks import encode_mask  # noqa: E402
from vidseg.tracking import FrameDetections, MaskIoUTracker  # noqa: E402
from vidseg.tracking.motion import TrackHistory, build_motion_prior  # noqa: E402

H, W, TRACKS = 360, 640, 10


def histories(rng) -> list[TrackHistory]:
    out = []
    for k in range(TRACKS):
        h = TrackHistory(8)
        y, x = rng.integers(40, H - 80), rng.integers(40, W - 120)
        for t in range(4):
            m = np.zeros((H, W), np.uint8)
            m[y + 3 * t : y + 3 * t + 50, x + 6 * t : x + 6 * t + 70] = 1
            h.append(t, encode_mask(m))
        out.append(h)
    return out


def time_it(fn, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-full", action="store_true", help="skip the official-size (canvas 384) network")
    ap.add_argument("--skip-host", action="store_true", help="skip the host network's own time")
    ap.add_argument("--prior-weights", default="", help="a reduced InstMove checkpoint (configs/instmove/synthetic.yaml)")
    ap.add_argument("--prior-size", type=int, default=48, help="canvas of --prior-weights")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    hist = histories(rng)
    rows = []
    cfg = get_cfg()
    for name in ("copy_last", "linear"):
        cfg.MODEL.MOTION_PRIOR.NAME = name
        prior = build_motion_prior(cfg)
        rows.append((name, time_it(lambda: prior.predict(hist, 4), args.repeats)))
    torch.manual_seed(0)
    small = load_config(str(ROOT / "configs" / "instmove" / "synthetic.yaml"))
    prior = InstMovePrior(small, net=InstMoveNet(small))
    rows.append(("instmove, reduced (canvas 32, 0.5 M params)", time_it(lambda: prior.predict(hist, 4), args.repeats)))
    if args.prior_weights:
        small.MODEL.INSTMOVE.INPUT_SIZE, small.MODEL.INSTMOVE.WEIGHTS = args.prior_size, args.prior_weights
        prior = InstMovePrior(small)
        rows.append((f"instmove, trained reduced (canvas {args.prior_size}, `{Path(args.prior_weights).name}`)",
                     time_it(lambda: prior.predict(hist, 4), args.repeats)))
    if not args.skip_full:
        full = get_cfg()
        full.MODEL.DEVICE = "cpu"
        full.MODEL.INSTMOVE.IMAGE_ENCODER = "none"
        prior = InstMovePrior(full, net=InstMoveNet(full))
        rows.append(("instmove, official size (canvas 384, 24.8 M test-time params, no image encoder)",
                     time_it(lambda: prior.predict(hist, 4), 1)))
    # the host tracker's own association for one frame: 10 tracks, 10 detections, mask IoU only
    dets = [FrameDetections(masks=np.stack([np.asarray(h.dense()[-1]) for h in hist]), scores=np.full(TRACKS, 0.95))]
    frames = dets * 5

    def track():
        MaskIoUTracker(bidirectional=False)(frames)

    rows.append(("host: MaskIoUTracker association alone (per frame)", time_it(track, args.repeats) / len(frames)))
    if not args.skip_host:
        from detectron2.modeling import build_model

        hcfg = load_config(str(ROOT / "configs" / "baseline" / "r50_fpn.yaml"))
        hcfg.MODEL.DEVICE = "cpu"
        model = build_model(hcfg).eval()
        image = torch.randint(0, 255, (3, H, W), dtype=torch.uint8)
        rows.append(("host: per-frame Mask R-CNN R50-FPN, detector on one 360×640 frame (random weights)",
                     time_it(lambda: model.detect_frames([image], H, W), max(1, args.repeats // 2))))
    print(f"| per frame, {TRACKS} tracks at {H}×{W} ({args.threads} CPU threads, measured under load) | ms |")
    print("| --- | --- |")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
