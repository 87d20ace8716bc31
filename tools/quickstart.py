#!/usr/bin/env python
"""``make quickstart``: the per-frame Mask R-CNN + mask-IoU tracker baseline on the built-in synthetic VIS
videos, on CPU. Evaluates the untrained model, trains (resuming an interrupted run), evaluates again, prints
both YouTube-VIS AP tables side by side and the path of an overlay GIF coloured by track id.

Each step is its own ``train_net.py`` process (its log goes to the terminal as usual); the metrics are read back
from the evaluator's ``ytvis_details.json``."""
import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join("configs", "baseline", "quickstart.yaml")
OUT = os.path.join("output", "quickstart")
DATASET = "synth_vis_val_large"
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "IDF1")


def run(out_dir: str, *extra: str) -> dict:
    """Run train_net.py and return the YouTube-VIS metrics it wrote for DATASET."""
    cmd = [sys.executable, "train_net.py", "--config-file", CONFIG, *extra, "OUTPUT_DIR", out_dir]
    subprocess.run(cmd, cwd=ROOT, check=True)
    with open(os.path.join(ROOT, out_dir, "inference", DATASET, "ytvis_details.json")) as f:
        return json.load(f)["metrics"]


def fmt(value: float | None) -> str:
    """x100 with one decimal; ``n/a`` where the metric is undefined (NaN, written as null: no object of that size)."""
    return "  n/a" if value is None else f"{100 * value:5.1f}"


def main() -> None:
    t0 = time.time()
    untrained = run(f"{OUT}/untrained", "--eval-only", "MODEL.WEIGHTS", "", "TEST.VIS_VIDEOS", "0")
    t1 = time.time()
    trained = run(f"{OUT}/trained", "--resume")
    t2 = time.time()
    rows = [("untrained (random init)", untrained), ("trained", trained)]
    width = max(len(name) for name, _ in rows)
    print(f"\nYouTube-VIS metrics (x100) on {DATASET} (IDF1 at score >= 0.5):")
    print(f"{'model':<{width}} | " + " | ".join(f"{m:>5}" for m in METRICS))
    for name, res in rows:
        print(f"{name:<{width}} | " + " | ".join(fmt(res[m]) for m in METRICS))
    gifs = sorted(glob.glob(os.path.join(ROOT, OUT, "trained", "inference", DATASET, "overlays", "*.gif")))
    print(f"\noverlay (masks coloured by track id): {os.path.relpath(gifs[0], ROOT) if gifs else 'none written'}")
    print(f"time: untrained eval {t1 - t0:.0f} s, train + eval {t2 - t1:.0f} s")


if __name__ == "__main__":
    main()
