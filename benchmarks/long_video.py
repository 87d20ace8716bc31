#!/usr/bin/env python
"""Long-video inference of IFR: peak memory and time per frame against video length (issue 13 item 4), on CPU.

Synthetic videos of 100, 300 and 1,000 frames at 360×640 (three squares moving on a textured background) go
through ``IFR.inference`` in sliding-window mode (``TEST_MODE clip``; windows of ``--window`` frames every
``--stride``; each frame's backbone and pixel decoder run once, features are reused by overlapping windows). The
baseline, measured in the same run, is whole-video inference (``TEST_MODE video``) of a short clip. Every
measurement is a fresh process, so its peak RSS (``ru_maxrss``) is that run's peak. Frames are rendered when the
model reads them (as a frame-by-frame reader would deliver them), so the figure is the model's memory, not the
input's (a decoded 360×640 frame is 0.7 MB). Random weights (speed and memory do not depend on them); every
query is kept (``TEST_KEEP_SCORE 0``) so that tracks must be linked across all windows.

    python benchmarks/long_video.py                                   # R-50 IFR (configs/ifr/r50.yaml)
    python benchmarks/long_video.py --config configs/ifr/quickstart.yaml --record
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Long videos (IFR)"


class SyntheticVideo:
    """``length`` uint8 frames (3, H, W) rendered on access: three squares moving across a textured background."""

    def __init__(self, length: int, height: int, width: int) -> None:
        import torch

        self.length, self.h, self.w = length, height, width
        g = torch.Generator().manual_seed(0)
        self.background = (torch.rand(3, height // 8, width // 8, generator=g) * 120 + 60).repeat_interleave(
            8, 1).repeat_interleave(8, 2)[:, :height, :width]

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        return (self[i] for i in range(self.length))

    def __getitem__(self, i):
        import torch

        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.length))]
        if not 0 <= i < self.length:
            raise IndexError(i)
        img = self.background.clone()
        for k, colour in enumerate(((230, 40, 40), (40, 200, 60), (50, 80, 230))):
            x = int((40 + 3 * i + 150 * k) % (self.w - 60))
            y = int(60 + 90 * k + 20 * torch.sin(torch.tensor(i / 7.0 + k)))
            img[:, y:y + 50, x:x + 50] = torch.tensor(colour, dtype=img.dtype)[:, None, None]
        return img.to(torch.uint8)


def child(a) -> None:
    """One measurement in this process: prints a JSON line."""
    import torch
    from detectron2.modeling import build_model

    from vidseg.config import load_config

    torch.set_num_threads(a.threads)
    cfg = load_config(str(ROOT / a.config), [
        "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "SOLVER.AMP.ENABLED", "False", "MODEL.IFR.TEST_MODE", a.mode,
        "MODEL.IFR.TEST_WINDOW", str(a.window), "MODEL.IFR.TEST_STRIDE", str(a.stride),
        "MODEL.IFR.TEST_KEEP_SCORE", "0.0", "TEST.MAX_FRAMES_WHOLE", "0", "TEST.CLIP_CHUNK", str(a.chunk)])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    video = {"image": SyntheticVideo(a.length, *a.size), "height": a.size[0], "width": a.size[1], "video_id": 0}
    start = time.perf_counter()
    vi = model([video])[0]["video_instances"]
    seconds = time.perf_counter() - start
    spans = [sum(r is not None for r in m) for m in vi.masks]
    print(json.dumps({"frames": a.length, "mode": a.mode, "seconds": seconds,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "tracks": len(vi), "longest_track": max(spans, default=0)}))


def measure(a, mode: str, length: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--mode", mode, "--length", str(length), "--config", a.config,
           "--window", str(a.window), "--stride", str(a.stride), "--threads", str(a.threads), "--chunk",
           str(a.chunk), "--size", *map(str, a.size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/ifr/r50.yaml")
    p.add_argument("--frames", type=int, nargs="+", default=[100, 300, 1000])
    p.add_argument("--short", type=int, default=24, help="frames of the whole-video baseline clip")
    p.add_argument("--size", type=int, nargs=2, default=[360, 640])
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--stride", type=int, default=4)
    p.add_argument("--chunk", type=int, default=0, help="TEST.CLIP_CHUNK")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", default="clip", help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a)
    rows = [measure(a, "video", a.short)] + [measure(a, "clip", n) for n in a.frames]
    base = rows[0]["seconds"] / rows[0]["frames"]
    first = rows[1]["peak_rss_mib"]
    lines = [SECTION, "", f"`python benchmarks/long_video.py {' '.join(sys.argv[1:])}` ({a.config}, random weights, "
             f"{a.size[0]}×{a.size[1]}, windows of {a.window} frames every {a.stride}, {a.threads} CPU threads, "
             "measured under load):", "",
             "| mode | frames | peak RSS (MiB) | growth vs first clip run | s / frame | × whole-video s / frame | tracks | "
             "longest track (frames) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per = r["seconds"] / r["frames"]
        growth = "–" if r["mode"] == "video" else f"{100 * (r['peak_rss_mib'] / first - 1):+.1f} %"
        lines.append(f"| {r['mode']} | {r['frames']} | {r['peak_rss_mib']:.0f} | {growth} | {per:.2f} | "
                     f"{per / base:.2f} | {r['tracks']} | {r['longest_track']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.record:
        old = RESULTS.read_text() if RESULTS.is_file() else ""
        pattern = re.compile(rf"{re.escape(SECTION)}\n.*?(?=\n## |\Z)", re.S)
        new = pattern.sub(lambda _: text.rstrip("\n"), old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
        RESULTS.write_text(new.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
