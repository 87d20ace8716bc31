#!/usr/bin/env python
"""``make quickstart``: the per-frame Mask R-CNN + mask-IoU tracker baseline on the built-in synthetic VIS
videos, on CPU. Evaluates the untrained model, trains (resuming an interrupted run), evaluates again, prints
both YouTube-VIS AP tables side by side and the path of an overlay GIF coloured by track id."""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.chdir(ROOT)

from detectron2.engine import default_argument_parser  # noqa: E402

import train_net  # noqa: E402

CONFIG = os.path.join("configs", "baseline", "quickstart.yaml")
OUT = os.path.join("output", "quickstart")
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10")


def run(*extra: str) -> dict:
    return train_net.main(default_argument_parser().parse_args(["--config-file", CONFIG, *extra]))


def main() -> None:
    t0 = time.time()
    untrained = run("--eval-only", "MODEL.WEIGHTS", "", "TEST.VIS_VIDEOS", "0", "OUTPUT_DIR", f"{OUT}/untrained")
    t1 = time.time()
    trained = run("--resume", "OUTPUT_DIR", f"{OUT}/trained")
    t2 = time.time()
    rows = [("untrained (random init)", untrained["ytvis"]), ("trained", trained["ytvis"])]
    width = max(len(name) for name, _ in rows)
    print("\nYouTube-VIS metrics (x100) on synth_vis_val_large:")
    print(f"{'model':<{width}} | " + " | ".join(f"{m:>5}" for m in METRICS))
    for name, res in rows:
        print(f"{name:<{width}} | " + " | ".join(f"{100 * res[m]:5.1f}" for m in METRICS))
    gifs = sorted(
        os.path.join(d, f) for d, _, fs in os.walk(os.path.join(OUT, "trained", "inference")) for f in fs
        if f.endswith(".gif")
    )
    print(f"\noverlay (masks coloured by track id): {gifs[0] if gifs else 'none written'}")
    print(f"time: untrained eval {t1 - t0:.0f} s, train + eval {t2 - t1:.0f} s")


if __name__ == "__main__":
    main()
