#!/usr/bin/env python
"""Long-video inference of IFR: peak memory and time per frame against video length (issue 13 item 4), on CPU.

Synthetic videos of 100, 300 and 1,000 frames at 360×640 (three squares moving on a textured background) go
through ``IFR.inference`` in sliding-window mode (``TEST_MODE clip``; windows of ``TEST_WINDOW`` frames every
``TEST_STRIDE``, by default 10 / 9: one shared frame links consecutive windows; each frame's backbone and pixel
decoder run once, features are reused by overlapping windows). The baseline, measured in the same run, is
whole-video inference (``TEST_MODE video``) of the first ``--short`` frames of the same video. Time is process CPU
time with one torch thread (on a shared machine wall time mostly measures the other jobs). Every
measurement is a fresh process, so its peak RSS (``ru_maxrss``) is that run's peak. Frames are rendered when the
model reads them (as a frame-by-frame reader would deliver them), so the figure is the model's memory, not the
input's (a decoded 360×640 frame is 0.7 MB). Random weights (speed and memory do not depend on them); every
query is kept (``TEST_KEEP_SCORE 0``) so that tracks must be linked across all windows.

    python benchmarks/long_video.py --record                           # ResNet-18 quick-start IFR
    python benchmarks/long_video.py --config configs/ifr/r50.yaml      # R-50 IFR (hours on a CPU)
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

    from projects.ifr.inference import window_starts
    from vidseg.config import load_config

    torch.set_num_threads(a.threads)
    window = [] if a.window is None else ["MODEL.IFR.TEST_WINDOW", str(a.window)]
    stride = [] if a.stride is None else ["MODEL.IFR.TEST_STRIDE", str(a.stride)]
    cfg = load_config(str(ROOT / a.config), [
        "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "SOLVER.AMP.ENABLED", "False", "MODEL.IFR.TEST_MODE", a.mode,
        *window, *stride, "MODEL.IFR.TEST_KEEP_SCORE", "0.0", "TEST.MAX_FRAMES_WHOLE", "0", "TEST.CLIP_CHUNK",
        str(a.chunk)])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    encode, encoded = model.encode, []
    model.encode = lambda images, chunk=0: (encoded.append(images.shape[0]), encode(images, chunk))[1]
    video = {"image": SyntheticVideo(a.length, *a.size), "height": a.size[0], "width": a.size[1], "video_id": 0}
    start, cpu = time.perf_counter(), time.process_time()
    vi = model([video])[0]["video_instances"]
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    spans = [sum(r is not None for r in m) for m in vi.masks]
    rle_mib = sum(len(r["counts"]) for m in vi.masks for r in m if r is not None) / 2**20
    windows = 1 if a.mode == "video" else len(window_starts(a.length, model.test_window, model.test_stride))
    print(json.dumps({"frames": a.length, "mode": a.mode, "seconds": seconds, "cpu_seconds": cpu_seconds,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "window": model.test_window, "stride": model.test_stride, "windows": windows,
                      "encoded": sum(encoded), "tracks": len(vi), "output_rle_mib": rle_mib, "longest_track": max(spans, default=0),
                      "full_tracks": sum(s == a.length for s in spans)}))


def command(a, mode: str, length: int) -> list[str]:
    cmd = [sys.executable, __file__, "--child", "--mode", mode, "--length", str(length), "--config", a.config,
           "--threads", str(a.threads), "--chunk", str(a.chunk), "--size", *map(str, a.size)]
    cmd += ([] if a.window is None else ["--window", str(a.window)]) + ([] if a.stride is None else
                                                                       ["--stride", str(a.stride)])
    return cmd


def measure(a, runs: list[tuple[str, int]]) -> list[dict]:
    """Each (mode, frames) in a fresh process, ``a.jobs`` processes at a time, longest first; rows in the order of
    ``runs``."""
    rows: dict[int, dict] = {}
    pending, running = sorted(enumerate(runs), key=lambda r: -r[1][1]), {}
    while pending or running:
        while pending and len(running) < a.jobs:
            i, (mode, length) = pending.pop(0)
            running[i] = subprocess.Popen(command(a, mode, length), stdout=subprocess.PIPE, text=True, env={
                **os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(a.threads), "OMP_WAIT_POLICY": "PASSIVE"})
        for i, proc in list(running.items()):
            if proc.poll() is not None:
                out, _ = proc.communicate()
                if proc.returncode:
                    raise SystemExit(f"long_video: measurement {runs[i]} failed (exit {proc.returncode})")
                rows[i] = json.loads(out.strip().splitlines()[-1])
                print(json.dumps(rows[i]), flush=True)
                del running[i]
        time.sleep(1)
    return [rows[i] for i in range(len(runs))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/ifr/quickstart.yaml", help="IFR config (ResNet-18 quick-start net)")
    p.add_argument("--frames", type=int, nargs="+", default=[100, 300, 1000])
    p.add_argument("--short", type=int, default=24, help="frames of the whole-video baseline clip")
    p.add_argument("--size", type=int, nargs=2, default=[360, 640])
    p.add_argument("--window", type=int, default=None, help="MODEL.IFR.TEST_WINDOW (default: the config's)")
    p.add_argument("--stride", type=int, default=None, help="MODEL.IFR.TEST_STRIDE (default: the config's)")
    p.add_argument("--chunk", type=int, default=0, help="TEST.CLIP_CHUNK")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1, help="measurements run at the same time (separate processes)")
    p.add_argument("--load-rows", nargs="+", default=[], help="logs of earlier runs of this script: their measurement "
                   "lines (JSON) are used instead of measuring the same (mode, frames) again")
    p.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", default="clip", help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a)
    wanted = [("video", a.short)] + [("clip", n) for n in a.frames]
    loaded = {(r["mode"], r["frames"]): r for f in a.load_rows for line in Path(f).read_text().splitlines()
              if line.startswith('{"frames"') for r in [json.loads(line)]}
    todo = [w for w in wanted if w not in loaded]
    measured = dict(zip(todo, measure(a, todo)))
    rows = [loaded.get(w) or measured[w] for w in wanted]
    base = rows[0]["cpu_seconds"] / rows[0]["frames"]
    first = rows[1]["peak_rss_mib"]
    w, st = rows[1]["window"], rows[1]["stride"]
    lines = [SECTION, "", f"`python benchmarks/long_video.py {' '.join(sys.argv[1:])}`: IFR `{a.config}` (random "
             f"weights), synthetic {a.size[0]}×{a.size[1]} frames, clip mode with windows of {w} frames every {st} "
             f"({w - st}-frame overlap), every query kept (`TEST_KEEP_SCORE 0`); baseline: whole-video inference "
             f"(`TEST_MODE video`) of the first {a.short} frames of the same video, same process setup; "
             f"{a.threads} CPU thread(s), {a.jobs} measurement(s) at a time, measured under load. Time per frame is process CPU time (the machine is "
             "shared, so wall time mostly measures the other jobs; it is given too). Peak RSS is the whole "
             "process (model and Python included).", "",
             "| mode | frames | windows | frames encoded | peak RSS (MiB) | growth vs first clip run | output RLE (MiB) "
             "| CPU s / frame | × whole-video | wall s / frame | tracks | tracks over all frames |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per = r["cpu_seconds"] / r["frames"]
        growth = "–" if r["mode"] == "video" else f"{100 * (r['peak_rss_mib'] / first - 1):+.1f} %"
        lines.append(f"| {r['mode']} | {r['frames']} | {r['windows']} | {r['encoded']} | {r['peak_rss_mib']:.0f} | "
                     f"{growth} | {r['output_rle_mib']:.1f} | {per:.3f} | {per / base:.2f} | {r['seconds'] / r['frames']:.2f} | {r['tracks']} | "
                     f"{r['full_tracks']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.record:
        old = RESULTS.read_text() if RESULTS.is_file() else ""
        pattern = re.compile(rf"{re.escape(SECTION)}\n.*?(?=\n## |\Z)", re.S)
        new = pattern.sub(lambda _: text.rstrip("\n"), old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
        RESULTS.write_text(new.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
