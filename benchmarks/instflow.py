"""Instance Flow Assembly (paper 002) on CPU: tracking quality and speed.

1. Trains the tiny model on the synthetic VIS set for each seed with the paper's two stages (``train_net.py``):
   stage 1 ``configs/instflow/tiny_stage1.yaml`` (semantic, center, intra offsets), stage 2
   ``configs/instflow/tiny.yaml`` (pairs; inter-frame decoder copied from the intra-frame one). Then it runs the
   model once per validation video and links the *same* per-frame instances twice: instance-flow assembly (the
   method) and plain mask-IoU linking (``MaskIoUTracker`` keeping every instance). Reports YouTube-VIS AP / AP50,
   IDF1 and ID switches (score >= 0.5, the evaluator's consistency metrics), per seed, mean ± std over seeds and
   the paired difference (flow − IoU, same seed).
2. Inference frames/s on a 360x640 video (random frames, random init) for the per-frame Mask R-CNN baseline,
   IFR and Instance Flow (single scale, 4 references) at the ResNet-50 configs, all measured in this run.

    OMP_NUM_THREADS=1 python benchmarks/instflow.py --skip-fps --seeds 0 1 2 --record
    python benchmarks/instflow.py --skip-train --threads 2 --fps-frames 3 --record
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402
from detectron2.engine import default_argument_parser  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

import train_net  # noqa: E402
from vidseg.checkpoint import VidsegCheckpointer  # noqa: E402
from vidseg.config import get_cfg  # noqa: E402
from vidseg.data.build import build_video_test_loader  # noqa: E402
from vidseg.evaluation.ytvis import ytvis_metrics  # noqa: E402
from vidseg.tracking import MaskIoUTracker  # noqa: E402

STAGE1 = ROOT / "configs" / "instflow" / "tiny_stage1.yaml"
TINY = ROOT / "configs" / "instflow" / "tiny.yaml"
FPS_CONFIGS = [("per-frame Mask R-CNN + IoU tracker", "configs/baseline/r50_fpn.yaml", []),
               ("IFR (Mask2Former-VIS + IFR)", "configs/ifr/r50.yaml", []),
               ("Instance Flow (1 scale, first + up to 3 previous frames as refs)", "configs/instflow/r50.yaml",
                ["MODEL.INSTFLOW.INFERENCE.TEST_SCALES", "[1.0]"])]
COLUMNS = ("AP", "AP50", "IDF1", "IDs")


def train(seed: int, iters: tuple[int, int], out: Path, train_set: str, batch: int) -> Path:
    """Stage 1 then stage 2 (from the stage-1 weights); returns the final checkpoint."""
    weights = ""
    for stage, (config, n) in enumerate(zip((STAGE1, TINY), iters), 1):
        d = out / f"stage{stage}"
        opts = ["SEED", str(seed), "SOLVER.MAX_ITER", str(n), "SOLVER.CHECKPOINT_PERIOD", str(n + 1),
                "SOLVER.WARMUP_ITERS", str(min(40, n // 10)), "SOLVER.IMS_PER_BATCH", str(batch),
                "DATASETS.TRAIN", f'("{train_set}",)', "DATASETS.TEST", "()", "OUTPUT_DIR", str(d), "MODEL.WEIGHTS", weights]
        train_net.main(default_argument_parser().parse_args(["--config-file", str(config), *opts]))
        weights = str(d / "model_final.pth")
    return Path(weights)


def evaluate(weights: Path, val_set: str) -> dict[str, dict[str, float]]:
    """AP/IDF1/IDs of both trackers on the same per-frame instances of the trained model."""
    cfg = get_cfg()
    cfg.merge_from_file(str(TINY))
    cfg.merge_from_list(["DATASETS.TEST", f'("{val_set}",)'])
    model = build_model(cfg).eval()
    VidsegCheckpointer(model).load(str(weights))
    preds: dict[str, dict] = {"instance flow": {}, "mask IoU": {}}
    for batch in build_video_test_loader(cfg, val_set):
        video = batch[0]
        iou = MaskIoUTracker(score_init=0.0, score_continue=-1.0)  # keep every instance: linking only
        flow_vi, iou_vi = model.inference(video, extra_trackers=[iou])
        preds["instance flow"][video["video_id"]] = flow_vi
        preds["mask IoU"][video["video_id"]] = iou_vi
    records = DatasetCatalog.get(val_set)
    names = MetadataCatalog.get(val_set).thing_classes
    out = {}
    for name, p in preds.items():
        m, _ = ytvis_metrics(records, p, names)
        out[name] = {c: float(m[c]) * (100 if c != "IDs" else 1) for c in COLUMNS}
    return out


def fps(config: str, opts: list[str], frames: int) -> float:
    cfg = get_cfg()
    cfg.merge_from_file(str(ROOT / config))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", *opts])
    if "SyncBN" in (cfg.MODEL.RESNETS.NORM, cfg.MODEL.INSTFLOW.NORM if "INSTFLOW" in cfg.MODEL else ""):
        cfg.merge_from_list(["MODEL.RESNETS.NORM", "BN"] + (["MODEL.INSTFLOW.NORM", "BN"] if "INSTFLOW" in cfg.MODEL else []))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    gen = torch.Generator().manual_seed(0)
    video = {"image": [torch.randint(0, 255, (3, 360, 640), dtype=torch.uint8, generator=gen) for _ in range(frames)],
             "height": 360, "width": 640, "video_id": 0}
    with torch.no_grad():
        model([{**video, "image": video["image"][:1]}])  # warm-up
        start = time.perf_counter()
        model([video])
        return frames / (time.perf_counter() - start)


def tracking_table(rows: list, args) -> list[str]:
    """Per-seed rows, mean ± std per linker and the paired difference (instance flow − mask IoU, same seed)."""
    lines = [f"Tracking on `{args.val_set}` after {args.iters[0]} + {args.iters[1]} iterations (stage 1 + stage 2) of "
             f"{args.batch} pairs on `{args.train_set}` (tiny model, same per-frame instances for both linkers, paired "
             "seeds):", "", "| linking | seed | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    lines += [f"| {n} | {s} | " + " | ".join(f"{m[c]:.1f}" for c in COLUMNS) + " |" for n, s, m in rows]
    per = {name: [m for n, _, m in rows if n == name] for name in ("instance flow", "mask IoU")}
    for name, ms in per.items():
        lines.append(f"| {name} | mean ± std | " + " | ".join(
            f"{np.mean([m[c] for m in ms]):.1f} ± {np.std([m[c] for m in ms]):.1f}" for c in COLUMNS) + " |")
    diff = {c: [a[c] - b[c] for a, b in zip(per["instance flow"], per["mask IoU"])] for c in COLUMNS}
    lines.append("| flow − IoU (paired) | mean ± std | " + " | ".join(
        f"{np.mean(diff[c]):+.1f} ± {np.std(diff[c]):.1f}" for c in COLUMNS) + " |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, nargs=2, default=[400, 500], metavar=("STAGE1", "STAGE2"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=4, help="pairs per iteration")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: no spin-waiting on a loaded machine)")
    parser.add_argument("--train-set", default="synth_vis_train")
    parser.add_argument("--val-set", default="synth_vis_val")
    parser.add_argument("--fps-frames", type=int, default=4)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-fps", action="store_true")
    parser.add_argument("--save-rows", help="write the per-seed tracking results to this JSON file")
    parser.add_argument("--load-rows", nargs="+", default=[], help="skip training; tabulate JSON files of --save-rows "
                        "(seeds run as separate processes)")
    parser.add_argument("--record", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = []
    if args.load_rows:
        rows = [tuple(r) for f in args.load_rows for r in json.loads(Path(f).read_text())]
        lines += tracking_table(rows, args)
    elif not args.skip_train:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in args.seeds:
                out = Path(tmp) / f"seed{seed}"
                t0 = time.perf_counter()
                res = evaluate(train(seed, tuple(args.iters), out, args.train_set, args.batch), args.val_set)
                print(f"seed {seed}: {res} ({time.perf_counter() - t0:.0f} s)", flush=True)
                rows += [(name, seed, m) for name, m in res.items()]
        if args.save_rows:
            Path(args.save_rows).write_text(json.dumps(rows))
        lines += tracking_table(rows, args)
    if not args.skip_fps:
        lines += [f"Inference at 360x640 on CPU ({torch.get_num_threads()} threads, random init, {args.fps_frames}-frame "
                  "video, measured under load in one run):", "", "| model | config | frames/s | vs IFR |", "|---|---|---|---|"]
        speeds = [(n, c, fps(c, o, args.fps_frames)) for n, c, o in FPS_CONFIGS]
        ifr = speeds[1][2]
        lines += [f"| {n} | `{c}` | {v:.3f} | {v / ifr:.2f}x |" for n, c, v in speeds]
    text = "\n".join(lines)
    print(text)
    if args.record:
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write(f"\n## Instance Flow Assembly (`python benchmarks/instflow.py {' '.join(sys.argv[1:])}`)\n\n{text}\n")


if __name__ == "__main__":
    main()
