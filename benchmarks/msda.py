"""Forward and forward+backward time of every available MSDeformAttn implementation.

Shapes (Deformable DETR layout, 8 heads x 32 channels = 256, 4 points):
  pixel_decoder: the Mask2Former MSDeformAttn pixel decoder on a 2x3x384x640 input: 3 levels at strides 8/16/32
                 (48x80, 24x40, 12x20; S = 5040) and one query per pixel of those levels (Lq = 5040).
  decoder:       the same 3-level value map read by 100 queries (a DETR-style decoder layer).
Each implementation runs on the tensors' device (``cpu`` kernel and ``pytorch`` reference on CPU; ``cuda`` kernel
and ``pytorch`` on GPU when present); ratios are against the reference measured in the same run.

Usage: ``python benchmarks/msda.py [--repeat 5] [--threads N] [--shapes pixel_decoder decoder]``
(prints a Markdown table; results are recorded in benchmarks/RESULTS.md).
"""
import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from vidseg.layers.ms_deform_attn import dispatch, ms_deform_attn

LEVELS = [(48, 80), (24, 40), (12, 20)]  # 384x640 at strides 8, 16, 32
SHAPES = {"pixel_decoder": sum(h * w for h, w in LEVELS), "decoder": 100}  # name -> number of queries
BATCH, HEADS, CHANNELS, POINTS = 2, 8, 32, 4


def make_inputs(num_queries: int, device: str, dtype: torch.dtype) -> list[torch.Tensor]:
    """value (N,S,M,D), spatial_shapes, level_start_index, locations (N,Lq,M,L,P,2) mostly inside the maps,
    softmax-normalised attention weights (N,Lq,M,L,P)."""
    gen = torch.Generator().manual_seed(0)
    shapes = torch.tensor(LEVELS, dtype=torch.long)
    areas = shapes[:, 0] * shapes[:, 1]
    starts = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
    n_levels = len(LEVELS)
    value = torch.randn(BATCH, int(areas.sum()), HEADS, CHANNELS, generator=gen)
    loc = torch.rand(BATCH, num_queries, HEADS, n_levels, POINTS, 2, generator=gen) * 1.1 - 0.05
    attn = torch.randn(BATCH, num_queries, HEADS, n_levels * POINTS, generator=gen).softmax(-1)
    attn = attn.view(BATCH, num_queries, HEADS, n_levels, POINTS)
    return [value.to(device, dtype), shapes.to(device), starts.to(device), loc.to(device, dtype),
            attn.to(device, dtype)]


def time_ms(fn: Callable[[], None], device: str, warmup: int, repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench_impl(impl: str, inputs: list[torch.Tensor], device: str, warmup: int, repeat: int) -> tuple[float, float]:
    """(forward ms, forward+backward ms) of one implementation."""
    with torch.no_grad():
        fwd = time_ms(lambda: ms_deform_attn(*inputs, impl=impl), device, warmup, repeat)
    leaves = [t.detach().requires_grad_(t.is_floating_point()) for t in inputs]
    grad = torch.ones(BATCH, inputs[3].shape[1], HEADS * CHANNELS, device=device, dtype=inputs[0].dtype)

    def step() -> None:
        ms_deform_attn(*leaves, impl=impl).backward(grad)

    return fwd, time_ms(step, device, warmup, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    status = dispatch.impl_status()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {platform.processor() or 'cpu'}, "
          f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}, {args.dtype}, "
          f"median of {args.repeat}")
    for name, (ok, why) in status.items():
        if not ok:
            print(f"(skipped {name}: {why})")
    print("| shape | Lq | device | impl | forward ms | fwd+bwd ms | forward speed-up | fwd+bwd speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in args.shapes:
        for device in devices:
            inputs = make_inputs(SHAPES[shape], device, dtype)
            kernel = "cuda" if device == "cuda" else "cpu"
            impls = ["pytorch"] + ([kernel] if status[kernel][0] else [])
            results = {impl: bench_impl(impl, inputs, device, args.warmup, args.repeat) for impl in impls}
            ref_fwd, ref_both = results["pytorch"]
            for impl, (fwd, both) in results.items():
                print(f"| {shape} | {SHAPES[shape]} | {device} | {impl} | {fwd:.1f} | {both:.1f} | "
                      f"{ref_fwd / fwd:.2f}x | {ref_both / both:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
