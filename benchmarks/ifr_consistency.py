#!/usr/bin/env python
"""Does IFR keep identities better than Mask2Former-VIS? A fair synthetic experiment (issue 13 item 3), on CPU.

Data (``ifr_consistency_data.py``): 3–4 same-class objects per video with distinct constant textures, crossing
with partial occlusion, entering and leaving (``textured``), and the ``identical`` control set where all objects
of a video look the same (motion-only identities). Protocol:

1. A shared per-frame pre-training stage stands in for COCO: an image Mask2Former (the Mask2Former-VIS decoder on
   1-frame clips, CE) on frames of the textured training videos. Every arm starts from it exactly as the paper
   starts from COCO: backbone, pixel decoder, query embeddings, norms and mask head load; Mask2Former-VIS also
   loads its decoder layers; IFR layers (and a focal class head) start random.
2. Arms, identical network, data, seeds and iterations: Mask2Former-VIS (CE), IFR (CE), IFR (focal), IFR λe = 0
   (focal), IFR without recurrence (focal); trained with 2- and 4-frame clips (same frames per batch). Every run
   (pre-training included) trains at a constant learning rate until the per-frame mIoU on a separate plateau split
   stops improving (``ifr_consistency_plateau.py``: evaluated every ``--eval-every`` iterations, stop when the best
   of the last ``--patience`` evaluations is < ``--delta`` points above the best before), capped at ``--iters``.
3. Evaluation on held-out videos of each set: per-frame mIoU (identity-agnostic, all output tracks; is the
   segmentation on par?), IDF1, MOTA and ID switches (paper protocol: boxes, IoU 0.5, score ≥ 0.5) and video AP;
   mean ± std over paired seeds, paired differences against the reference arm, and the perfect / swap-at-every-
   crossing oracles as bounds.

Runs go seed by seed (all arms, clip lengths and sets of seed 0, then seed 1, ...), so an interrupted experiment
holds complete paired seeds. Each finished run is stored in ``<out>/.../runs_*.json`` (a rerun skips it; ``--minutes``
starts no new run after that time) and the printed table states exactly what was run and how each run ended.
``--record`` writes it into ``benchmarks/RESULTS.md``.

    python benchmarks/ifr_consistency.py                                 # full protocol (100 runs, CPU hours)
    python benchmarks/ifr_consistency.py --seeds 0 1 --clip-lengths 2 --iters 300 --pretrain-iters 300
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import torch  # noqa: E402
from detectron2.data import DatasetCatalog  # noqa: E402
import detectron2.engine.defaults as d2_defaults  # noqa: E402

import train_net  # noqa: E402
from ifr_consistency_data import make_split, oracle_predictions, per_frame_miou, register  # noqa: E402
from ifr_consistency_plateau import Plateaued, PlateauHook  # noqa: E402
from vidseg.engine import VideoTrainer  # noqa: E402
from vidseg.data.datasets.synthetic import CLASS_NAMES  # noqa: E402
from vidseg.evaluation.ytvis import ytvis_metrics  # noqa: E402
from vidseg.structures.video_instances import VideoInstances  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## IFR vs Mask2Former-VIS"
ARMS = {
    "m2f_ce": ("Mask2Former-VIS (CE)", ["MODEL.IFR.ENABLED", "False", "MODEL.IFR.CLASS_LOSS", "ce"]),
    "ifr_ce": ("IFR (CE)", ["MODEL.IFR.CLASS_LOSS", "ce"]),
    "ifr_focal": ("IFR (focal)", ["MODEL.IFR.CLASS_LOSS", "focal"]),
    "ifr_le0": ("IFR λe = 0", ["MODEL.IFR.CLASS_LOSS", "focal", "MODEL.IFR.CROSS_FRAME_WEIGHT", "0.0"]),
    "ifr_norec": ("IFR without recurrence", ["MODEL.IFR.CLASS_LOSS", "focal", "MODEL.IFR.RECURRENCE", "False"]),
}
PAIRS = (("ifr_ce", "m2f_ce"), ("ifr_focal", "ifr_ce"), ("ifr_le0", "ifr_focal"), ("ifr_norec", "ifr_focal"))
COLUMNS = ("mIoU", "AP", "IDF1", "MOTA", "IDs")
SEEDS = {"textured": (1000, 2000, 5000), "identical": (3000, 4000, 6000)}  # (train, val, plateau) generator seeds
# default_setup logs the whole environment (~2 s) at every in-process run; once per experiment is enough
_collect_env_info, _env_logged = d2_defaults.collect_env_info, []


def _env_info_once() -> str:
    if _env_logged:
        return "(logged by the first run of this process)"
    _env_logged.append(True)
    return _collect_env_info()


d2_defaults.collect_env_info = _env_info_once


def fresh_logging() -> None:
    """Each in-process ``train_net`` run adds log handlers (its own output folder); drop the previous ones."""
    for name in ("", "detectron2", "d2", "fvcore", "vidseg", "projects"):
        logging.getLogger(name).handlers.clear()


def opts(a, extra: list[str]) -> list[str]:
    return ["INPUT.MIN_SIZE_TRAIN", f"({a.size},)", "INPUT.MAX_SIZE_TRAIN", str(a.size), "INPUT.MIN_SIZE_TEST",
            str(a.size), "INPUT.MAX_SIZE_TEST", str(a.size), "TEST.VIS_VIDEOS", "0", "DATALOADER.NUM_WORKERS", "0",
            "MODEL.IFR.FOCAL_PRIOR_PROB", "0.01", *extra]


def train(a, out: Path, extra: list[str], iters: int, frames: int, frames_per_batch: int, plateau_set: str
          ) -> tuple[Path, dict]:
    """One training run of ``train_net``'s trainer (config, checks, loaders, checkpoints) at a constant learning
    rate until the per-frame mIoU on ``plateau_set`` plateaus, at most ``iters`` iterations. Returns the final
    checkpoint and how the run ended ({"iters", "plateaued", "history": [[iteration, mIoU], ...]})."""
    ckpt, log = out / "model_final.pth", out / "plateau.json"
    if ckpt.is_file() and log.is_file():
        return ckpt, json.loads(log.read_text())
    sched = ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", "()", "SOLVER.WARMUP_ITERS", str(min(20, iters // 10)),
             "SOLVER.CHECKPOINT_PERIOD", str(iters), "SOLVER.IMS_PER_BATCH", str(max(1, frames_per_batch // frames)),
             "INPUT.CLIP.NUM_FRAMES", str(frames), "INPUT.CLIP.SAMPLING_RANGE", str(a.sampling_range),
             "DATASETS.TEST", "()", "OUTPUT_DIR", str(out)]
    args = train_net.argument_parser().parse_args(["--config-file", a.config, "--overwrite", *opts(a, extra + sched)])
    fresh_logging()
    trainer = VideoTrainer(train_net.setup(args))
    trainer.resume_or_load(resume=False)
    hook = PlateauHook(plateau_set, a.eval_every, a.patience, a.delta)
    trainer.register_hooks([hook])
    try:
        trainer.train()
    except Plateaued:
        pass
    ended = {"iters": hook.history[-1][0], "plateaued": hook.plateaued, "history": hook.history}
    log.write_text(json.dumps(ended))
    return ckpt, ended


def predictions_from_results(path: Path, records: list[dict]) -> dict:
    """results.json (server format) -> {video_id: VideoInstances} with contiguous labels."""
    entries = json.loads(path.read_text())
    sizes = {r["video_id"]: (r["height"], r["width"]) for r in records}
    out: dict = {}
    for e in entries:
        out.setdefault(e["video_id"], []).append(e)
    return {v: VideoInstances(image_size=sizes[v], frame_idx=list(range(len(es[0]["segmentations"]))),
                              track_ids=list(range(1, len(es) + 1)), scores=[e["score"] for e in es],
                              labels=[e["category_id"] - 1 for e in es], masks=[e["segmentations"] for e in es])
            for v, es in out.items()}


def metrics_of(records: list[dict], predictions: dict) -> dict:
    m, _ = ytvis_metrics(records, predictions, CLASS_NAMES)
    return {"mIoU": 100 * per_frame_miou(records, predictions), "AP": 100 * m["AP"], "IDF1": 100 * m["IDF1"],
            "MOTA": 100 * m["MOTA"], "IDs": float(m["IDs"])}


def evaluate(a, ckpt: Path, out: Path, extra: list[str], val: str) -> dict:
    train_set = val.replace("_val", "_train")
    args = train_net.argument_parser().parse_args(["--config-file", a.config, "--eval-only", *opts(a, extra + [
        "DATASETS.TRAIN", f'("{train_set}",)', "DATASETS.TEST", f'("{val}",)', "MODEL.WEIGHTS", str(ckpt),
        "OUTPUT_DIR", str(out)])])
    fresh_logging()
    train_net.main(args)
    records = DatasetCatalog.get(val)
    return metrics_of(records, predictions_from_results(next(out.rglob("results.json")), records))


def fmt(values: list[float]) -> str:
    v = np.array(values)
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v.mean():.1f}"


def report(a, runs: dict, oracles: dict, minutes: float) -> str:
    lines = [SECTION, "", f"`{' '.join(['python benchmarks/ifr_consistency.py', *sys.argv[1:]])}`: "
             f"{a.train_videos} train / {a.val_videos} held-out videos per set, {a.size}×{a.size}, {a.length} frames; "
             f"`{Path(a.config).relative_to(ROOT) if Path(a.config).is_relative_to(ROOT) else a.config}` network; "
             f"shared per-frame pre-training at {a.pretrain_frames_per_batch} frames per batch "
             f"({plateau_text(runs, 'pretrain')}), then every arm at {a.frames_per_batch} frames per batch, backbone "
             f"{'frozen' if a.freeze_backbone else 'trained'}; every run at a constant learning rate until its "
             f"per-frame mIoU on {a.plateau_videos} plateau videos of its set (neither training nor test videos) "
             f"plateaus: evaluated every {a.eval_every} iterations, stopped when the best of the last {a.patience} "
             f"evaluations is < {a.delta} points above the best before, capped at {a.pretrain_iters} (pre-training) "
             f"/ {a.iters} (arms) iterations; seeds {' '.join(map(str, a.seeds))}; {a.threads} CPU thread(s), "
             f"{minutes:.0f} min for the runs not cached (measured under load). Test metrics on the held-out videos: "
             "mIoU, AP, IDF1, MOTA ×100; IDF1, MOTA, IDs at score ≥ 0.5. `stop`: mean iterations at the stop, how "
             "many runs plateaued before the cap, mean plateau-split mIoU at the stop.", ""]
    for s in a.sets:
        lines += [f"### {s} set", "", "| arm | clip frames | seeds | " + " | ".join(COLUMNS) + " | stop: iterations, plateaued, mIoU |",
                  "|---|---|---|" + "---|" * (len(COLUMNS) + 1)]
        for name in ("perfect", "swap"):
            lines.append(f"| oracle: {name} | – | – | " + " | ".join(f"{oracles[s][name][c]:.1f}" for c in COLUMNS)
                         + " | – |")
        for t in a.clip_lengths:
            for arm in a.arms:
                ms = [runs[k] for k in (f"{s}/T{t}/{arm}/seed{x}" for x in a.seeds) if k in runs]
                if ms:
                    lines.append(f"| {ARMS[arm][0]} | {t} | {len(ms)} | "
                                 + " | ".join(fmt([m[c] for m in ms]) for c in COLUMNS)
                                 + f" | {stop_text(ms)} |")
        lines += ["", "Paired differences (arm − reference, same seed), mean ± std:", "",
                  "| arm − reference | clip frames | pairs | " + " | ".join(f"Δ{c}" for c in COLUMNS) + " |",
                  "|---|---|---|" + "---|" * len(COLUMNS)]
        for t in a.clip_lengths:
            for arm, ref in PAIRS:
                pairs = [(runs[f"{s}/T{t}/{arm}/seed{x}"], runs[f"{s}/T{t}/{ref}/seed{x}"]) for x in a.seeds
                         if f"{s}/T{t}/{arm}/seed{x}" in runs and f"{s}/T{t}/{ref}/seed{x}" in runs]
                if pairs:
                    lines.append(f"| {ARMS[arm][0]} − {ARMS[ref][0]} | {t} | {len(pairs)} | "
                                 + " | ".join(fmt([p[c] - q[c] for p, q in pairs]) for c in COLUMNS) + " |")
        lines.append("")
    return "\n".join(lines)


def stop_text(ms: list[dict]) -> str:
    return (f"{np.mean([m['iters'] for m in ms]):.0f}, {sum(m['plateaued'] for m in ms)}/{len(ms)}, "
            f"{np.mean([m['history'][-1][1] for m in ms]):.1f}")


def plateau_text(runs: dict, key: str) -> str:
    m = runs.get(key)
    if not m:
        return "not run"
    return (f"{m['iters']} iterations, {'plateaued' if m['plateaued'] else 'cap reached'}; plateau-split mIoU "
            + " → ".join(f"{v:.1f}" for _, v in m["history"]) + f"; held-out textured mIoU {m['mIoU']:.1f}")


def record(text: str) -> None:
    """Replace (or append) the ``## IFR vs Mask2Former-VIS`` section of benchmarks/RESULTS.md."""
    old = RESULTS.read_text() if RESULTS.is_file() else ""
    pattern = re.compile(rf"{re.escape(SECTION)}\n.*?(?=\n## |\Z)", re.S)
    new = pattern.sub(lambda _: text.rstrip("\n"), old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new.rstrip("\n") + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", nargs="+", default=["textured", "identical"], choices=list(SEEDS))
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--clip-lengths", type=int, nargs="+", default=[2, 4])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--config", default=str(ROOT / "configs" / "ifr" / "consistency.yaml"))
    p.add_argument("--iters", type=int, default=600, help="cap on the training iterations of an arm")
    p.add_argument("--pretrain-iters", type=int, default=600, help="cap on the shared per-frame pre-training")
    p.add_argument("--eval-every", type=int, default=50, help="plateau check: iterations between evaluations")
    p.add_argument("--patience", type=int, default=2, help="plateau check: evaluations without progress")
    p.add_argument("--delta", type=float, default=1.0, help="plateau check: mIoU points that count as progress")
    p.add_argument("--plateau-videos", type=int, default=6, help="videos per set of the plateau split")
    p.add_argument("--frames-per-batch", type=int, default=4, help="frames per training batch of the arms")
    p.add_argument("--pretrain-frames-per-batch", type=int, default=8)
    p.add_argument("--freeze-backbone", type=int, default=1, help="1: arms keep the pre-trained backbone frozen")
    p.add_argument("--sampling-range", type=int, default=5, help="INPUT.CLIP.SAMPLING_RANGE of training clips")
    p.add_argument("--train-videos", type=int, default=48)
    p.add_argument("--val-videos", type=int, default=12)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--length", type=int, default=24)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared machine)")
    p.add_argument("--out", default=str(ROOT / "output" / "bench_ifr_consistency"))
    p.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    p.add_argument("--report-only", action="store_true", help="print the table of the runs already stored")
    p.add_argument("--tag", default="", help="name of this worker's runs file (workers with other --seeds share "
                   "the pre-training and the report)")
    p.add_argument("--minutes", type=float, default=0, help="start no new run after this many minutes (0 = no limit)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out) / f"s{a.size}_l{a.length}_n{a.train_videos}-{a.val_videos}"
    oracles = {}
    for s in a.sets:
        (tr_seed, val_seed, pl_seed), identical = SEEDS[s], s == "identical"
        register(f"ifrc_{s}_train", out / "data" / f"{s}_train", make_split(
            tr_seed, a.train_videos, identical=identical, size=a.size, length=a.length))
        val_videos = make_split(val_seed, a.val_videos, identical=identical, size=a.size, length=a.length)
        register(f"ifrc_{s}_val", out / "data" / f"{s}_val", val_videos)
        register(f"ifrc_{s}_plateau", out / "data" / f"{s}_plateau{a.plateau_videos}", make_split(
            pl_seed, a.plateau_videos, identical=identical, size=a.size, length=a.length))
        records = DatasetCatalog.get(f"ifrc_{s}_val")
        oracles[s] = {n: metrics_of(records, oracle_predictions(val_videos, records, swap=n == "swap"))
                      for n in ("perfect", "swap")}
    stem = (f"runs_cap{a.iters}-{a.pretrain_iters}_every{a.eval_every}_p{a.patience}_d{a.delta:g}_pv{a.plateau_videos}"
            f"_fpb{a.frames_per_batch}-{a.pretrain_frames_per_batch}_fz{a.freeze_backbone}")
    runs: dict = {}
    for f in sorted(out.glob(f"{stem}*.json")):  # several workers (``--tag``) may share one experiment
        runs.update(json.loads(f.read_text()))
    runs_file = out / f"{stem}{'_' + a.tag if a.tag else ''}.json"
    start = time.time()
    if a.report_only:
        a.seeds = sorted({int(k.rsplit("seed", 1)[1]) for k in runs if "seed" in k} & set(a.seeds)) or a.seeds
        text = report(a, runs, oracles, 0.0)
        print("\n" + text)
        if a.record:
            record(text)
        return
    pre_extra = ["MODEL.IFR.ENABLED", "False", "MODEL.IFR.CLASS_LOSS", "ce"]
    pre, ended = train(a, out / f"{stem[5:]}_pretrain", pre_extra + ["DATASETS.TRAIN", '("ifrc_textured_train",)'],
                       a.pretrain_iters, 1, a.pretrain_frames_per_batch, "ifrc_textured_plateau")
    if "pretrain" not in runs:
        runs["pretrain"] = {**evaluate(a, pre, pre.parent / "eval", pre_extra, "ifrc_textured_val"), **ended}
        runs_file.write_text(json.dumps(runs, indent=1))
        print("pretrain", runs["pretrain"], f"{(time.time() - start) / 60:.1f} min", flush=True)
    freeze = ["MODEL.BACKBONE.FREEZE_AT", "5"] if a.freeze_backbone else []
    for seed in a.seeds:
        for s in a.sets:
            for t in a.clip_lengths:
                for arm in a.arms:
                    key = f"{s}/T{t}/{arm}/seed{seed}"
                    if key in runs or (a.minutes and time.time() - start > 60 * a.minutes):
                        continue
                    run_dir = out / f"{stem[5:]}_{key.replace('/', '_')}"
                    extra = ARMS[arm][1] + ["SEED", str(seed)]
                    ckpt, ended = train(a, run_dir, extra + freeze + [
                        "MODEL.WEIGHTS", str(pre), "MODEL.WEIGHTS_MAX_UNLOADED", "0.9",  # IFR layers start random
                        "DATASETS.TRAIN", f'("ifrc_{s}_train",)'], a.iters, t, a.frames_per_batch,
                        f"ifrc_{s}_plateau")
                    runs[key] = {**evaluate(a, ckpt, run_dir / "eval", extra, f"ifrc_{s}_val"), **ended}
                    runs_file.write_text(json.dumps(runs, indent=1))
                    print(key, runs[key], f"{(time.time() - start) / 60:.1f} min", flush=True)
    text = report(a, runs, oracles, (time.time() - start) / 60)
    print("\n" + text)
    if a.record:
        record(text)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
