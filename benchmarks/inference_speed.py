"""End-to-end CPU speed of IFR and Mask2Former-VIS (R50, random init): one 12-frame 360x640 video, and one training
step, each path measured in its own process (so peak RSS is per path) and compared in one table.

Paths:
  reference  the official model's cost structure: grid_sample MSDA (``VIDSEG_MSDA_IMPL=pytorch``), fp32, no compile
  default    vidseg as shipped (compiled MSDA kernel), fp32
  bf16       default under ``torch.autocast("cpu", torch.bfloat16)`` (``--bf16``); skipped with a note on CPUs
             without native bf16 arithmetic (no ``avx512_bf16`` / ``amx_bf16``), where oneDNN emulates it and a
             bf16 GEMM is tens of times slower than fp32 (``--force-bf16`` runs it anyway)

Per path: median wall time of ``--repeat`` runs after one warm-up, frames/s, peak RSS of the process, and the time
per stage (backbone / pixel decoder / query decoder / post-processing = the rest of ``model.inference``); outputs
(final-layer class logits and mask logits) are compared with the reference path's. The training step is a 2-frame
clip with two objects, forward + backward + AdamW step.

Usage: ``python benchmarks/inference_speed.py [--models ifr m2f] [--repeat 3] [--bf16] [--swin-l] [--frames 12]``
(figures are recorded in benchmarks/RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"ifr": [], "m2f": ["MODEL.IFR.ENABLED", "False", "MODEL.IFR.CLASS_LOSS", "ce"]}
STAGES = ("backbone", "pixel_decoder", "predictor", "post")


def native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def build(model_name: str, swin_l: bool):
    """Random-init model in eval mode (seeded, so every process builds the same weights)."""
    import torch
    from detectron2.modeling import build_model

    from vidseg.config import load_config

    config = ROOT / "configs" / "ifr" / ("swin_l.yaml" if swin_l else "r50.yaml")
    cfg = load_config(str(config), MODELS[model_name] + ["MODEL.DEVICE", "cpu"])
    torch.manual_seed(0)
    return build_model(cfg)


def video(frames: int, h: int, w: int) -> dict:
    import torch

    g = torch.Generator().manual_seed(1)
    images = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for _ in range(frames)]
    return {"image": images, "height": h, "width": w, "video_id": 0, "frame_idx": list(range(frames))}


def training_clip(h: int, w: int) -> dict:
    """2 frames, two moving rectangles with ids / classes / masks / boxes (the IFR model-input contract)."""
    import torch
    from detectron2.structures import BitMasks, Instances

    g = torch.Generator().manual_seed(2)
    images, instances = [], []
    for t in range(2):
        img = torch.randint(0, 80, (3, h, w), generator=g, dtype=torch.uint8)
        masks = torch.zeros(2, h, w, dtype=torch.bool)
        masks[0, 40:160, 60 + 10 * t : 200 + 10 * t] = True
        masks[1, 180:330, 300 - 10 * t : 520 - 10 * t] = True
        for k in range(2):
            img[:, masks[k]] = torch.tensor([[220], [60 + 120 * k], [40]], dtype=torch.uint8)
        inst = Instances((h, w))
        inst.gt_ids, inst.gt_classes = torch.tensor([1, 2]), torch.tensor([0, 1])
        inst.gt_masks = BitMasks(masks)
        inst.gt_boxes = inst.gt_masks.get_bounding_boxes()
        images.append(img)
        instances.append(inst)
    return {"image": images, "instances": instances, "height": h, "width": w}


class StageTimer:
    """Wall time of the backbone, pixel decoder and query decoder calls inside one ``model.inference``."""

    def __init__(self, model) -> None:
        self.times = dict.fromkeys(STAGES[:3], 0.0)
        self.flops = dict.fromkeys(STAGES[:3], 0)
        self.count_flops = False  # True: also count each stage's FLOPs (torch.utils.flop_counter; not timed)
        self.outputs: dict = {}
        self._wrap(model, "backbone", "forward")
        self._wrap(model, "pixel_decoder", "forward_features")
        self._wrap(model, "predictor", "forward")

    def _wrap(self, model, stage: str, method: str) -> None:
        module = getattr(model, stage)
        original = getattr(module, method)

        def timed(*args, **kwargs):
            if self.count_flops:
                with FlopCount() as counter:
                    out = original(*args, **kwargs)
                self.flops[stage] += counter.flops
                return out
            start = time.perf_counter()
            out = original(*args, **kwargs)
            self.times[stage] += time.perf_counter() - start
            if stage == "predictor":
                self.outputs = {"pred_logits": out["pred_logits"].float(), "pred_masks": out["pred_masks"].float()}
            return out

        setattr(module, method, timed)

    def reset(self) -> None:
        self.times = dict.fromkeys(self.times, 0.0)


def FlopCount():
    """A dispatch mode summing the FLOPs of matmuls, convolutions and attention by torch's own formulas
    (``torch.utils.flop_counter.flop_registry``; other ops count 0). Works inside ``inference_mode``, unlike
    ``FlopCounterMode``, whose module tracker needs autograd."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class _Count(TorchDispatchMode):
        flops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.flops += formula(*args, **kwargs, out_val=out)
            return out

    return _Count()


def gemm_peak() -> float:
    """Best fp32 GEMM throughput (GFLOP/s) of this process's threads over shapes like the model's largest products
    (pixel-decoder FFN and projections, a square GEMM): an upper bound on what any fp32 layer here can attain."""
    import torch

    best = 0.0
    for m, k, n in ((20160, 256, 1024), (20160, 1024, 256), (20160, 256, 256), (2048, 2048, 2048)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(4):
            start = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * m * k * n / (time.perf_counter() - start) / 1e9)
    return best


def worker(args: argparse.Namespace) -> None:
    """One (model, path) in this process: prints a JSON line; saves the outputs to ``--save``."""
    import torch

    if args.path == "reference":
        os.environ["VIDSEG_MSDA_IMPL"] = "pytorch"
    model = build(args.model, args.swin_l).eval()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.path == "bf16")
    result: dict = {"model": args.model, "path": args.path}
    if args.task == "inference":
        timer = StageTimer(model)
        clip = video(args.frames, args.height, args.width)
        runs = []
        for i in range(args.repeat + 1):
            timer.reset()
            start = time.perf_counter()
            with autocast:
                model.inference(clip)
            total = time.perf_counter() - start
            if i > 0:  # the first run warms up allocators and oneDNN primitives
                runs.append({**timer.times, "post": total - sum(timer.times.values()), "total": total})
        result.update({k: statistics.median(r[k] for r in runs) for k in (*STAGES, "total")})
        torch.save(timer.outputs, args.save)
        if args.roofline and args.path == "default":
            timer.count_flops = True
            with FlopCount() as counter:
                model.inference(clip)
            flops = {**timer.flops, "post": counter.flops - sum(timer.flops.values())}
            result["gflop"] = {k: v / 1e9 for k, v in flops.items()}
            result["gemm_gflops"] = gemm_peak()
    else:
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.05)
        clip = training_clip(args.height, args.width)
        times = []
        for i in range(args.repeat + 1):
            start = time.perf_counter()
            with autocast:
                losses = model([clip])
            sum(losses.values()).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if i > 0:
                times.append(time.perf_counter() - start)
        result["total"] = statistics.median(times)
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(result), flush=True)


def run_worker(args: argparse.Namespace, model: str, path: str, task: str, save: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--model", model, "--path", path, "--task", task, "--save", save,
           "--repeat", str(args.repeat), "--frames", str(args.frames), "--height", str(args.height),
           "--width", str(args.width)] + (["--swin-l"] if args.swin_l else []) + \
        (["--roofline"] if args.roofline else [])
    env = {k: v for k, v in os.environ.items() if k != "VIDSEG_MSDA_IMPL"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        sys.exit(f"worker {model}/{path}/{task} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def max_rel_diff(a_path: str, b_path: str) -> float:
    """max |a - b| / max |b| over the saved final-layer logits and mask logits."""
    import torch

    a, b = torch.load(a_path), torch.load(b_path)
    return max(((a[k] - b[k]).abs().max() / b[k].abs().max()).item() for k in b)


def print_roofline(model: str, results: dict) -> None:
    """Per stage: FLOPs, the default path's time and achieved rate, and the time at the peak GEMM rate; the bound on
    the speed-up over the reference that any fp32 implementation doing these FLOPs can reach on this machine."""
    d, peak = results["default"], results["default"]["gemm_gflops"]
    print(f"\nRoofline, {model} (default path; peak fp32 GEMM here {peak:.0f} GFLOP/s, measured in the same process):\n")
    print("| stage | GFLOP | default s | achieved GFLOP/s | s at the peak GEMM rate |")
    print("|---|---|---|---|---|")
    for stage in STAGES:
        g = d["gflop"][stage]
        print(f"| {stage} | {g:.1f} | {d[stage]:.2f} | {g / max(d[stage], 1e-9):.0f} | {g / peak:.2f} |")
    total = sum(d["gflop"].values())
    floor = total / peak
    print(f"| total | {total:.1f} | {d['total']:.2f} | {total / d['total']:.0f} | {floor:.2f} |")
    print(f"\nFloor {floor:.2f} s (every FLOP at the peak GEMM rate, all other work free): at most "
          f"{results['reference']['total'] / floor:.2f}x the reference path's {results['reference']['total']:.2f} s "
          f"for any fp32 implementation of this computation on this machine.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per path after one warm-up (median)")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--bf16", action="store_true", help="also run the default path under CPU bf16 autocast")
    parser.add_argument("--force-bf16", action="store_true", help="run --bf16 even without native bf16 arithmetic")
    parser.add_argument("--swin-l", action="store_true", help="Swin-L backbone instead of R50")
    parser.add_argument("--no-train", action="store_true", help="skip the training-step comparison")
    parser.add_argument("--roofline", action="store_true", help="count each stage's FLOPs and measure the peak fp32 "
                        "GEMM rate: the fastest any fp32 implementation of the same computation could run here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="ifr", help=argparse.SUPPRESS)
    parser.add_argument("--path", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--task", default="inference", help=argparse.SUPPRESS)
    parser.add_argument("--save", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    import torch

    paths = ["reference", "default"]
    if args.bf16 and (native_bf16() or args.force_bf16):
        paths.append("bf16")
    elif args.bf16:
        print("(bf16 skipped: this CPU has no avx512_bf16 / amx_bf16, so bf16 GEMMs are emulated and far slower "
              "than fp32; --force-bf16 runs it anyway)")
    backbone = "Swin-L" if args.swin_l else "R50"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.frames} frames "
          f"{args.height}x{args.width}, {backbone}, random init, median of {args.repeat} after 1 warm-up, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print("| model | path | total s | frames/s | speed-up | backbone s | pixel decoder s | query decoder s | "
          "post s | peak RSS GiB | max rel. diff vs reference |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rooflines: list = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            results = {}
            for path in paths:
                save = os.path.join(tmp, f"{model}_{path}.pt")
                r = results[path] = run_worker(args, model, path, "inference", save)
                diff = "–" if path == "reference" else \
                    f"{max_rel_diff(save, os.path.join(tmp, f'{model}_reference.pt')):.1e}"
                print(f"| {model} | {path} | {r['total']:.2f} | {args.frames / r['total']:.2f} | "
                      f"{results['reference']['total'] / r['total']:.2f}x | {r['backbone']:.2f} | "
                      f"{r['pixel_decoder']:.2f} | {r['predictor']:.2f} | {r['post']:.2f} | "
                      f"{r['peak_rss_gib']:.2f} | {diff} |", flush=True)
            if "gflop" in results.get("default", {}):
                rooflines.append((model, results))
        for model, results in rooflines:
            print_roofline(model, results)
        if args.no_train:
            return
        print("\nTraining step (2-frame clip, batch 1, forward + backward + AdamW):\n")
        print("| model | path | step s | speed-up | peak RSS GiB |")
        print("|---|---|---|---|---|")
        for model in args.models:
            results = {}
            for path in [p for p in paths if p != "bf16"]:
                r = results[path] = run_worker(args, model, path, "train", "")
                print(f"| {model} | {path} | {r['total']:.2f} | {results['reference']['total'] / r['total']:.2f}x | "
                      f"{r['peak_rss_gib']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
