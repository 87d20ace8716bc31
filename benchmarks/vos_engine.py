#!/usr/bin/env python
"""Streaming VOS engine: (a) peak RSS flat in video length, (b) ISVOS vs Cutie frames/s on the same frames.

(a) The tiny ISVOS model (``configs/tests/isvos.yaml``) streams a synthetic video of ``--short`` and ``--long``
frames (96×160, 2 objects, generated on the fly) through :class:`vidseg.vos.VOSEngine`, each in its own process;
the peak RSS (``ru_maxrss``) of the two runs is compared (target: long within 10 % of short).
(b) ISVOS (``configs/isvos/r50.yaml``, random weights) and Cutie's ``InferenceCore`` (PyPI ``rf-cutie``, base
model, random weights; installed into this venv by the benchmark when missing) process the same ``--frames``
frames at ``--height``×``--width`` with 2 objects given on frame 0, each in its own process: frames/s after the
first frame, ms/frame of the memory read + decode path alone (ISVOS ``segment``; Cutie ``InferenceCore._segment``:
memory readout with its object transformer, then its mask decoder), the conv/matmul GFLOP of both (a load-independent
measure next to the timings, counted in a separate untimed 3-frame run of each so that the counter's per-op overhead
stays out of the timings) and peak RSS. Both run under ``torch.inference_mode`` with the same thread count. The ISVOS
process also times one standalone 3×3 convolution of the MPF decoder's largest shape (K×256×H/4×W/4 -> 256): the
direct-convolution throughput of this machine at that moment, which bounds how fast ISVOS's conv-dominated read +
decode path can be. ``--repeats`` alternates the two and keeps the best of each run, because load on a shared
machine only slows a run down. CPU unless ``--device cuda``.

    python benchmarks/vos_engine.py --part memory
    python benchmarks/vos_engine.py --part speed --frames 7 --repeats 2
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synthetic_frames(n: int, h: int, w: int, seed: int = 0):
    """Yields (uint8 3×H×W frame, 2×H×W masks) of two squares moving on noise, one frame at a time."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    s = min(h, w) // 4
    for t in range(n):
        img = rng.integers(0, 80, size=(3, h, w), dtype=np.uint8)
        masks = np.zeros((2, h, w), bool)
        for j in range(2):
            x = int((t * 2 + j * w // 2) % (w - s))
            y = (h // 4) * (1 + j)
            masks[j, y: y + s, x: x + s] = True
            img[:, masks[j]] = np.array([[220], [80 + 100 * j], [40]], np.uint8)
        yield torch.from_numpy(img), torch.from_numpy(masks)


def isvos_child(config: str, n: int, h: int, w: int, device: str, opts: list[str], flops: bool,
                conv_rate: bool = False) -> dict:
    import torch
    from detectron2.checkpoint import DetectionCheckpointer  # noqa: F401  (detectron2 import order)
    from detectron2.modeling import build_model

    from vidseg.config import load_config
    from vidseg.vos import VOSEngine

    cfg = load_config(config, ["MODEL.DEVICE", device, *opts])
    model = build_model(cfg).eval().requires_grad_(False)  # inference; also keeps FlopCounterMode's hooks quiet
    engine = VOSEngine(model, cfg)
    frames = synthetic_frames(n, h, w)

    def step(t: int, frame, masks) -> None:
        engine.step(frame, masks if t == 0 else None, [1, 2] if t == 0 else None, end=t == n - 1)

    out = stream(step, frames, n, device, model, "segment", flops)
    if conv_rate:
        out["conv_gflops"] = conv_throughput(2, 256, -(-h // 32) * 8, -(-w // 32) * 8, device)
    return {**out, "memory_entries": len(engine.memory)}


def conv_throughput(k: int, c: int, h: int, w: int, device: str, repeats: int = 3) -> float:
    """GFLOP/s of one direct 3×3 conv (k, c, h, w) -> c channels, channels-last, best of ``repeats``."""
    import torch
    from torch.nn import functional as F

    x = torch.randn(k, c, h, w, device=device).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(c, c, 3, 3, device=device) / (3 * c ** 0.5), torch.zeros(c, device=device)
    best_s = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        F.conv2d(x, weight, bias, padding=1)
        sync(device)
        best_s = min(best_s, time.perf_counter() - t0)
    return 2 * 9 * k * c * c * h * w / best_s / 1e9


def ensure_cutie() -> str | None:
    if importlib.util.find_spec("cutie") is not None:
        return None
    r = subprocess.run([sys.executable, "-m", "pip", "install", "rf-cutie[inference]"], capture_output=True, text=True)
    if r.returncode != 0:
        return "pip install rf-cutie failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return None


def cutie_child(n: int, h: int, w: int, device: str, flops: bool) -> dict:
    import torch
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from cutie.inference.inference_core import InferenceCore
    from cutie.inference.utils.args_utils import get_dataset_cfg
    from cutie.model import cutie as cutie_model
    from cutie.model.utils import resnet

    # random weights, no download: the encoders are built with pretrained=False
    for name in ("resnet18", "resnet50"):
        build = getattr(resnet, name)
        setattr(resnet, name, lambda pretrained=True, _build=build, **kw: _build(False, **kw))
    # ``cutie`` is a namespace package (no __init__.py): its shipped hydra config is found through its search path
    config_dir = Path(importlib.util.find_spec("cutie").submodule_search_locations[0]) / "config"
    with initialize_config_dir(version_base="1.3.2", config_dir=str(config_dir)):
        cfg = compose(config_name="eval_config")
    with open_dict(cfg):
        get_dataset_cfg(cfg)
    net = cutie_model.CUTIE(cfg).to(device).eval().requires_grad_(False)
    core = InferenceCore(net, cfg=cfg)

    def step(t: int, frame, masks) -> None:
        img = frame.float().div(255).to(device)
        if t == 0:
            core.step(img, masks.float().to(device), objects=[1, 2], idx_mask=False)
        else:
            core.step(img, end=t == n - 1)

    return stream(step, synthetic_frames(n, h, w), n, device, core, "_segment", flops)


def stream(step, frames, n: int, device: str, owner, read_decode: str, flops: bool) -> dict:
    """Runs ``step(t, frame, masks)`` over the frames; frames/s, ms/frame and (``flops``) GFLOP/frame of the whole
    step and of ``owner.<read_decode>`` (the memory read + decode path), all over frames 1..n-1."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False) if flops else None
    seg = {"s": 0.0, "flop": 0}
    fn = getattr(owner, read_decode)

    def wrapper(*a, **k):
        sync(device)
        t0, f0 = time.perf_counter(), counter.get_total_flops() if counter else 0
        out = fn(*a, **k)
        sync(device)
        seg["s"] += time.perf_counter() - t0
        seg["flop"] += (counter.get_total_flops() - f0) if counter else 0
        return out

    setattr(owner, read_decode, wrapper)
    start = total_flop = None
    with counter if counter is not None else contextlib.nullcontext():  # entering a FlopCounterMode resets it
        for t, (frame, masks) in enumerate(frames):
            if t == 1:
                seg["s"], seg["flop"] = 0.0, 0
                total_flop = counter.get_total_flops() if counter else 0
                sync(device)
                start = time.perf_counter()
            step(t, frame, masks)
        sync(device)
    elapsed = time.perf_counter() - start
    out = {"fps": (n - 1) / elapsed, "segment_ms": 1000 * seg["s"] / (n - 1)}
    if counter is not None:
        out.update(gflop=(counter.get_total_flops() - total_flop) / 1e9 / (n - 1), segment_gflop=seg["flop"] / 1e9 / (n - 1))
    return out


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    with torch.inference_mode():  # both models: no autograd bookkeeping
        if args.child == "cutie":
            out = cutie_child(args.frames, args.height, args.width, args.device, args.flops)
        else:
            out = isvos_child(args.config, args.frames, args.height, args.width, args.device, args.opts, args.flops,
                              args.conv_rate)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.device.startswith("cuda"):
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("RESULT " + json.dumps(out))


def spawn(which: str, frames: int, h: int, w: int, a: argparse.Namespace, config: str, opts=(),
          flops: bool = False, conv_rate: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--frames", str(frames), "--height", str(h), "--width",
           str(w), "--device", a.device, "--threads", str(a.threads), "--config", config, *(["--flops"] if flops else []),
           *(["--conv-rate"] if conv_rate else []), "--opts", *opts]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        return {"error": (r.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(line[-1][7:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=["memory", "speed", "all"], default="all")
    p.add_argument("--short", type=int, default=100)
    p.add_argument("--long", type=int, default=1000)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=854)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1, help="speed: alternate ISVOS / Cutie runs this many times, "
                   "report the best of each (load on a shared machine only ever slows a run down)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--flops", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--conv-rate", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config", default=str(ROOT / "configs" / "isvos" / "r50.yaml"))
    p.add_argument("--opts", nargs="*", default=[])
    a = p.parse_args()
    if a.child:
        return child(a)
    if a.part in ("memory", "all"):
        tiny = str(ROOT / "configs" / "tests" / "isvos.yaml")
        rows = {n: spawn("isvos", n, 96, 160, a, tiny, ["TEST.VOS.MEM_EVERY", "5"]) for n in (a.short, a.long)}
        s, l_ = rows[a.short], rows[a.long]
        print(f"(a) tiny ISVOS, 96x160, 2 objects, {a.threads} thread(s), measured under load")
        print("| frames | peak RSS MB | frames/s | memory entries |\n|---|---|---|---|")
        for n, r in rows.items():
            print(f"| {n} | {r.get('peak_rss_mb', float('nan')):.1f} | {r.get('fps', float('nan')):.1f} | "
                  f"{r.get('memory_entries', '-')} |" if "error" not in r else f"| {n} | error: {r['error']} |")
        if "error" not in s and "error" not in l_:
            print(f"long / short peak RSS: {l_['peak_rss_mb'] / s['peak_rss_mb']:.3f} (target <= 1.10)")
    if a.part in ("speed", "all"):
        speed(a)


def best(runs: list[dict], counted: dict) -> dict:
    """Best timings over the timed runs, GFLOP from the separate counting run."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    out = {"fps": max(r["fps"] for r in ok), "segment_ms": min(r["segment_ms"] for r in ok),
           "peak_rss_mb": max(r["peak_rss_mb"] for r in ok), "runs": len(ok),
           "gflop": counted.get("gflop", float("nan")), "segment_gflop": counted.get("segment_gflop", float("nan"))}
    if all("conv_gflops" in r for r in ok):
        out["conv_gflops"] = max(r["conv_gflops"] for r in ok)
    return out


def speed(a: argparse.Namespace) -> None:
    problem = ensure_cutie()
    isvos_opts = ["MODEL.WEIGHTS", "", *a.opts]
    runs: dict[str, list[dict]] = {"isvos": [], "cutie": []}
    for _ in range(a.repeats):
        runs["isvos"].append(spawn("isvos", a.frames, a.height, a.width, a, a.config, isvos_opts, conv_rate=True))
        runs["cutie"].append({"error": problem} if problem else spawn("cutie", a.frames, a.height, a.width, a, a.config))
    count_frames = min(a.frames, 3)  # FLOPs per frame are the same for every frame with memory; not timed
    isvos = best(runs["isvos"], spawn("isvos", count_frames, a.height, a.width, a, a.config, isvos_opts, flops=True))
    cut = best(runs["cutie"], {} if problem else spawn("cutie", count_frames, a.height, a.width, a, a.config, flops=True))
    name = f"ISVOS R50 ({Path(a.config).relative_to(ROOT) if Path(a.config).is_relative_to(ROOT) else a.config}" + (
        f" {' '.join(a.opts)})" if a.opts else ")")
    print(f"\n(b) {a.height}x{a.width}, 2 objects given on frame 0, {a.frames} frames (1..{a.frames - 1} timed), random "
          f"weights, {a.device}, {a.threads} thread(s), inference_mode, best of {a.repeats} alternating run(s), measured "
          "under load; GFLOP = conv/matmul FLOPs per frame counted by torch.utils.flop_counter in a separate untimed run "
          "(MSDA sampling and embedding_bag gathers not counted)")
    print("| model | frames/s | GFLOP/frame | memory read + decode ms/frame | read + decode GFLOP | read + decode GFLOP/s "
          "| peak RSS MB |\n|---|---|---|---|---|---|---|")
    for label, r in ((name, isvos), ("Cutie base (rf-cutie InferenceCore)", cut)):
        if "error" in r:
            print(f"| {label} | error: {r['error']} | | | | | |")
        else:
            print(f"| {label} | {r['fps']:.4f} | {r['gflop']:.0f} | {r['segment_ms']:.0f} | {r['segment_gflop']:.0f} | "
                  f"{r['segment_gflop'] / r['segment_ms'] * 1000:.1f} | {r['peak_rss_mb']:.0f} |")
    if "error" not in isvos and "error" not in cut:
        print(f"ISVOS / Cutie frames/s: {isvos['fps'] / cut['fps']:.2f} (target >= 0.5); memory read + decode speed "
              f"ratio (Cutie ms / ISVOS ms): {cut['segment_ms'] / isvos['segment_ms']:.2f} (target >= 1.0); FLOP ratios "
              f"Cutie / ISVOS: whole step {cut['gflop'] / isvos['gflop']:.2f}, read + decode "
              f"{cut['segment_gflop'] / isvos['segment_gflop']:.2f}")
    if "conv_gflops" in isvos:
        floor = isvos["segment_gflop"] / isvos["conv_gflops"] * 1000
        print(f"direct 3x3 conv throughput in the ISVOS process (best): {isvos['conv_gflops']:.1f} GFLOP/s; at that rate "
              f"ISVOS's {isvos['segment_gflop']:.0f} GFLOP read + decode needs >= {floor:.0f} ms/frame"
              + (f" (Cutie's took {cut['segment_ms']:.0f} ms: speed ratio <= {cut['segment_ms'] / floor:.2f})"
                 if "error" not in cut else ""))


if __name__ == "__main__":
    main()
