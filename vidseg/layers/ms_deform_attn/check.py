"""``python -m vidseg.layers.ms_deform_attn.check``: which MSDA implementations are available and why.

Prints the extension's build record (``build_info.json``, written by setup.py), the status of each
implementation, what ``auto`` picks for CPU and CUDA tensors, and a tiny numerical self-check of every usable
kernel against the ``grid_sample`` reference (float64, max abs difference).
"""
import json
import os

import torch

from . import dispatch
from .function import ms_deform_attn
from .reference import ms_deform_attn_reference

BUILD_INFO = os.path.join(os.path.dirname(__file__), "build_info.json")


def _build_record() -> str:
    if not os.path.exists(BUILD_INFO):
        return "no build_info.json (extension never built from this tree)"
    with open(BUILD_INFO, encoding="utf-8") as f:
        info = json.load(f)
    notes = "; ".join(info.get("notes", [])) or "no notes"
    return f"variant={info.get('variant')} ({notes})"


def _self_check(kind: str) -> str:
    device = "cuda" if kind == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(0)
    shapes = torch.tensor([[3, 5], [2, 2], [1, 1]])
    starts = torch.tensor([0, 15, 19])
    args = [
        torch.randn(2, 20, 2, 4, generator=gen, dtype=torch.float64),
        shapes,
        starts,
        torch.rand(2, 6, 2, 3, 2, 2, generator=gen, dtype=torch.float64) * 1.4 - 0.2,
        torch.rand(2, 6, 2, 3, 2, generator=gen, dtype=torch.float64),
    ]
    args = [a.to(device) for a in args]
    diff = (ms_deform_attn(*args, impl=kind) - ms_deform_attn_reference(*args)).abs().max().item()
    return f"self-check vs reference (fp64): max |diff| = {diff:.2e} ({'OK' if diff < 1e-10 else 'MISMATCH'})"


def main() -> None:
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}, "
          f"{dispatch.ENV_VAR}={os.environ.get(dispatch.ENV_VAR, '(unset: auto)')}")
    print(f"build: {_build_record()}")
    status = dispatch.impl_status()
    for name, (ok, why) in status.items():
        print(f"  {name:8s} {'available  ' if ok else 'unavailable'}  {why}")
        if ok and name != "pytorch":
            print(f"  {'':8s} {_self_check(name)}")
    for device in ("cpu", "cuda"):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        probe = torch.empty(0, device=device)
        print(f"auto picks for float32 {device} tensors: {dispatch.select_impl(probe, 'auto')}")


if __name__ == "__main__":
    main()
