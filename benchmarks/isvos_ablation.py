#!/usr/bin/env python
"""ISVOS vs ISVOS without query enhancement (paper 004 Tab. 3 in miniature), on CPU.

Both variants use the tiny ``configs/tests/isvos.yaml`` network with the same seeds, data and iterations; the only
difference is ``MODEL.ISVOS.QUERY_ENHANCE``. Training on ``synth_vos_train`` (3-frame clips, 64 px), evaluation
(J&F, YouTube-VOS protocol: objects may enter late) on ``synth_vos_val`` through ``train_net.py --eval-only``.
Prints a table per seed and mean ± sample std of the paired runs.

    python benchmarks/isvos_ablation.py --iters 150          # 3 seeds
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from detectron2.engine import default_argument_parser  # noqa: E402

import train_net  # noqa: E402

CONFIG = ROOT / "configs" / "tests" / "isvos.yaml"
VARIANTS = {"ISVOS": [], "w/o QE": ["MODEL.ISVOS.QUERY_ENHANCE", "False"]}
COLUMNS = ("J&F-Mean", "J-Mean", "F-Mean")


def run(variant: str, seed: int, iters: int, out: Path, train_set: str, val_set: str) -> dict:
    common = ["SEED", str(seed), "OUTPUT_DIR", str(out), "DATASETS.TRAIN", f"('{train_set}',)", *VARIANTS[variant]]
    train = ["DATASETS.TEST", "()", "SOLVER.MAX_ITER", str(iters), "SOLVER.BASE_LR", "0.0005",
             "SOLVER.CHECKPOINT_PERIOD", str(iters + 1)]
    train_net.main(default_argument_parser().parse_args(["--config-file", str(CONFIG), *common, *train]))
    test = ["DATASETS.TEST", f"('{val_set}',)", "MODEL.WEIGHTS", str(out / "model_final.pth")]
    results = train_net.main(default_argument_parser().parse_args(
        ["--config-file", str(CONFIG), "--eval-only", *common, *test]))
    return {c: 100 * float(results["vos"][c]) for c in COLUMNS}


def table(rows: list[tuple[str, int, dict]]) -> str:
    lines = ["| model | seed | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for name, seed, m in rows:
        lines.append(f"| {name} | {seed} | " + " | ".join(f"{m[c]:.1f}" for c in COLUMNS) + " |")
    for name in VARIANTS:
        ms = [m for n, _, m in rows if n == name]
        if len(ms) > 1:
            cells = [f"{np.mean([m[c] for m in ms]):.1f} ± {np.std([m[c] for m in ms], ddof=1):.1f}" for c in COLUMNS]
            lines.append(f"| **{name}** | mean ± std | " + " | ".join(cells) + " |")
    diffs = [a[2]["J&F-Mean"] - b[2]["J&F-Mean"] for a, b in zip(rows[0::2], rows[1::2])]
    if len(diffs) > 1:
        lines.append(f"\npaired J&F difference (ISVOS − w/o QE): {np.mean(diffs):+.1f} ± {np.std(diffs, ddof=1):.1f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--iters", type=int, default=150)
    p.add_argument("--train-set", default="synth_vos_train")
    p.add_argument("--val-set", default="synth_vos_val")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "output" / "bench_isvos_ablation"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rows, start = [], time.time()
    for seed in a.seeds:
        for name in VARIANTS:
            tag = "full" if name == "ISVOS" else "no_qe"
            rows.append((name, seed, run(name, seed, a.iters, Path(a.out) / f"{tag}_seed{seed}", a.train_set,
                                         a.val_set)))
    minutes = (time.time() - start) / 60
    print(f"\n`python benchmarks/isvos_ablation.py --iters {a.iters} --seeds {' '.join(map(str, a.seeds))}` "
          f"(tiny configs/tests/isvos.yaml, {a.train_set} -> {a.val_set}, {a.threads} thread(s), {minutes:.0f} min, "
          f"measured under load); J&F ×100\n\n{table(rows)}")


if __name__ == "__main__":
    main()
