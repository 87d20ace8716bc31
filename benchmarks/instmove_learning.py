#!/usr/bin/env python
"""InstMove learning test (InstMove README), on CPU: the reduced model (canvas 32, ~0.5 M parameters, no
image encoder) trained with the two-step schedule on the synthetic generator of §9.2 (occlusion bands, fast
motion), then mean IoU on the fixed evaluation set (seed 123, 100 samples for each n ∈ {2, 3, 4}) against the
copy-last and linear-extrapolation baselines measured on the same set in the same run.

    python benchmarks/instmove_learning.py                         # 300 iterations, seeds 0 1 2, LMC-style step 2
    python benchmarks/instmove_learning.py --step2 matching_encoder --iterations 400   # the paper's step 2
    python benchmarks/instmove_learning.py --record                # also writes the table into RESULTS.md
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from projects.instmove.model import InstMoveNet  # noqa: E402
from projects.instmove.synthetic import (copy_last, eval_set, evaluate_predictors, linear_extrapolation,  # noqa: E402
                                         model_predictor, train_on_synthetic)
from vidseg.config import load_config  # noqa: E402

CONFIG = ROOT / "configs" / "instmove" / "synthetic.yaml"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## InstMove learning test"


def run(seed: int, iterations: int, step2: str, checkpoints: list[int], evalset) -> dict[int, float]:
    cfg = load_config(str(CONFIG))
    cfg.MODEL.INSTMOVE.STEP2_TRAINABLE = step2
    torch.manual_seed(seed)
    net = InstMoveNet(cfg)
    scores: dict[int, float] = {}

    def callback(it, model):
        if it in checkpoints:
            scores[it] = evaluate_predictors(evalset, model_predictor(model))
            model.train()

    train_on_synthetic(net, iterations=iterations, seed=seed, step2_trainable=step2, callback=callback)
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--step2", default="all_but_memory", choices=["all_but_memory", "matching_encoder"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    evalset = eval_set()
    base_copy = evaluate_predictors(evalset, copy_last)
    base_lin = evaluate_predictors(evalset, linear_extrapolation)
    checkpoints = sorted({c for c in (100, 200, 300, 400, args.iterations) if c <= args.iterations})
    rows, t0 = {}, time.time()
    for seed in args.seeds:
        rows[seed] = run(seed, args.iterations, args.step2, checkpoints, evalset)
        print(f"seed {seed}: " + ", ".join(f"{k} it {v:.3f}" for k, v in rows[seed].items()), flush=True)
    minutes = (time.time() - t0) / 60
    seeds = " / ".join(str(s) for s in args.seeds)
    lines = [f"| iterations | InstMove, step 2 = {args.step2} (seed {seeds}) | mean | copy-last | linear extrap. |",
             "| --- | --- | --- | --- | --- |"]
    for c in checkpoints:
        vals = [rows[s][c] for s in args.seeds]
        lines.append(f"| {c} | {' / '.join(f'{v:.3f}' for v in vals)} | {sum(vals) / len(vals):.3f} | "
                     f"{base_copy:.3f} | {base_lin:.3f} |")
    final = [rows[s][args.iterations] for s in args.seeds]
    verdict = ("beats both baselines on every seed" if min(final) > max(base_copy, base_lin)
               else "does NOT beat both baselines on every seed")
    table = "\n".join(lines)
    print(table)
    print(f"after {args.iterations} iterations the model {verdict}; {minutes:.1f} min for {len(args.seeds)} seeds "
          f"({args.threads} thread(s), measured under load)")
    if args.record:
        cmd = f"python benchmarks/instmove_learning.py --iterations {args.iterations} --step2 {args.step2}"
        block = (f"{SECTION} ({args.step2})\n\nCommand: `{cmd}` (CPU, {args.threads} thread, {minutes:.1f} min for "
                 f"{len(args.seeds)} seeds, measured under load). Mean IoU on the fixed synthetic evaluation set "
                 f"(300 samples); baselines measured in the same run.\n\n{table}\n\nVerdict: the model {verdict}.\n")
        text = RESULTS.read_text() if RESULTS.exists() else ""
        pattern = re.compile(re.escape(f"{SECTION} ({args.step2})") + r".*?(?=\n## |\Z)", re.S)
        text = pattern.sub(block.rstrip("\n"), text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
