#!/usr/bin/env python
"""ISVOS vs ISVOS without query enhancement (paper 004 Tab. 3 in miniature), on CPU.

Both variants use the tiny ``configs/tests/isvos.yaml`` network with the same seeds, data and iterations; the only
difference is ``MODEL.ISVOS.QUERY_ENHANCE``. Trained from scratch (nothing is pretrained here, so the paper's 0.1×
LR for the pretrained backbone / IS branch is dropped: one LR for all) on ``synth_vos_train_large`` (60 videos,
3-frame clips resized to 64 px), evaluated (J&F, YouTube-VOS protocol: objects may enter late) on
``synth_vos_val_large`` (12 videos × 24 frames) through ``train_net.py --eval-only``. A reference row copies each
object's first annotated mask to every later frame (no model).

Each run's metrics are saved in ``<out>/<variant>_seed<s>_it<iters>/result.json``: a rerun skips finished runs
(and reuses a finished ``model_final.pth``), so the benchmark can be stopped and resumed. Prints a table per seed,
mean ± sample std and the paired J&F difference.

    OMP_NUM_THREADS=1 python benchmarks/isvos_ablation.py --iters 400          # 3 seeds, 6 runs
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402
from detectron2.engine import default_argument_parser  # noqa: E402

import train_net  # noqa: E402
from vidseg.evaluation.base import annotated_frames  # noqa: E402
from vidseg.evaluation.vos import gt_labels  # noqa: E402
from vidseg.evaluation.vos_sequences import RLELabels, SequenceJob, run_jobs, summarize  # noqa: E402

CONFIG = ROOT / "configs" / "tests" / "isvos.yaml"
VARIANTS = {"ISVOS": ("full", []), "w/o QE": ("no_qe", ["MODEL.ISVOS.QUERY_ENHANCE", "False"])}
COLUMNS = ("J&F-Mean", "J-Mean", "F-Mean")
BASELINE = "copy first mask"


def run(variant: str, seed: int, a: argparse.Namespace) -> dict:
    tag, overrides = VARIANTS[variant]
    out = Path(a.out) / f"{tag}_seed{seed}_it{a.iters}"
    done = out / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    common = ["SEED", str(seed), "OUTPUT_DIR", str(out), "DATASETS.TRAIN", f"('{a.train_set}',)", *overrides]
    train = ["DATASETS.TEST", "()", "SOLVER.MAX_ITER", str(a.iters), "SOLVER.BASE_LR", str(a.lr),
             "SOLVER.LR_MULTIPLIERS", "()", "SOLVER.WARMUP_ITERS", str(min(50, a.iters // 10)),
             "SOLVER.STEPS", f"({int(a.iters * 0.8)},)", "SOLVER.CHECKPOINT_PERIOD", str(a.iters + 1)]
    weights = out / "model_final.pth"
    t0 = time.time()
    if not weights.is_file():
        train_net.main(default_argument_parser().parse_args(["--config-file", str(CONFIG), *common, *train]))
    t1 = time.time()
    test = ["DATASETS.TEST", f"('{a.val_set}',)", "MODEL.WEIGHTS", str(weights)]
    results = train_net.main(default_argument_parser().parse_args(
        ["--config-file", str(CONFIG), "--eval-only", *common, *test]))
    metrics = {c: 100 * float(results["vos"][c]) for c in COLUMNS}
    metrics.update(train_min=(t1 - t0) / 60, eval_min=(time.time() - t1) / 60)
    done.write_text(json.dumps(metrics, indent=1))
    return metrics


def copy_first_mask(val_set: str) -> dict:
    """J&F of predicting, for every object, its first annotated mask on all later frames (no model)."""
    jobs = []
    for rec in DatasetCatalog.get(val_set):
        length = len(rec["file_names"])
        frames: list[list[tuple[int, dict]]] = [[] for _ in range(length)]
        first: dict[int, dict] = {}
        for t in range(length):
            for ann in rec["annotations"][t] or []:
                first.setdefault(int(ann["id"]), ann["segmentation"])
            frames[t] = sorted(first.items())
        eval_frames = annotated_frames(rec)
        jobs.append(SequenceJob(name=str(rec["video_id"]), gt=gt_labels(rec, eval_frames),
                                pred=RLELabels(int(rec["height"]), int(rec["width"]), frames),
                                pred_index=eval_frames))
    protocol = MetadataCatalog.get(val_set).get("vos_protocol", "davis")
    metrics, _ = summarize(run_jobs(jobs, protocol, num_workers=1), protocol)
    return {c: 100 * float(metrics[c]) for c in COLUMNS}


def _fmt(ms: list[dict], c: str) -> str:
    return f"{np.mean([m[c] for m in ms]):.1f} ± {np.std([m[c] for m in ms], ddof=1):.1f}"


def table(rows: list[tuple[str, int, dict]], baseline: dict) -> str:
    lines = ["| model | seed | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    lines.append(f"| {BASELINE} (reference) | - | " + " | ".join(f"{baseline[c]:.1f}" for c in COLUMNS) + " |")
    for name, seed, m in rows:
        lines.append(f"| {name} | {seed} | " + " | ".join(f"{m[c]:.1f}" for c in COLUMNS) + " |")
    for name in VARIANTS:
        ms = [m for n, _, m in rows if n == name]
        if len(ms) > 1:
            lines.append(f"| **{name}** | mean ± std | " + " | ".join(_fmt(ms, c) for c in COLUMNS) + " |")
    by_seed = {(n, s): m for n, s, m in rows}
    diffs = [by_seed[("ISVOS", s)]["J&F-Mean"] - by_seed[("w/o QE", s)]["J&F-Mean"]
             for s in sorted({s for _, s, _ in rows}) if ("ISVOS", s) in by_seed and ("w/o QE", s) in by_seed]
    if len(diffs) > 1:
        lines.append(f"\npaired J&F difference (ISVOS − w/o QE) per seed: {', '.join(f'{d:+.1f}' for d in diffs)}; "
                     f"mean {np.mean(diffs):+.1f} ± {np.std(diffs, ddof=1):.1f} (sample std)")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    tags = [tag for tag, _ in VARIANTS.values()]
    p.add_argument("--variants", nargs="+", choices=tags, default=tags,
                   help="run only these (e.g. one variant per process); the table shows every finished run")
    p.add_argument("--iters", type=int, default=250)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--train-set", default="synth_vos_train_large")
    p.add_argument("--val-set", default="synth_vos_val_large")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "output" / "bench_isvos_ablation"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    import vidseg  # noqa: F401  (registers the synthetic datasets)

    baseline = copy_first_mask(a.val_set)
    print(f"{BASELINE}: {baseline}", flush=True)
    rows, start = [], time.time()
    for seed in a.seeds:
        for name in VARIANTS:
            tag = VARIANTS[name][0]
            if tag in a.variants or (Path(a.out) / f"{tag}_seed{seed}_it{a.iters}" / "result.json").is_file():
                rows.append((name, seed, run(name, seed, a)))
                print(f"[{name} seed {seed}] {rows[-1][2]}", flush=True)
    cpu_min = sum(m["train_min"] + m["eval_min"] for _, _, m in rows)
    print(f"\n`OMP_NUM_THREADS=1 python benchmarks/isvos_ablation.py --iters {a.iters} --lr {a.lr} --seeds "
          f"{' '.join(map(str, a.seeds))}` (tiny configs/tests/isvos.yaml from scratch, batch 2, {a.train_set} -> "
          f"{a.val_set} at 64 px, {a.threads} thread(s), {cpu_min:.0f} min wall over the runs, this call "
          f"{(time.time() - start) / 60:.0f} min, measured under load); J&F ×100\n\n{table(rows, baseline)}")


if __name__ == "__main__":
    main()
