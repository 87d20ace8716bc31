#!/usr/bin/env python
"""IFR vs the Mask2Former-VIS switch on synthetic crossing objects (paper 003), on CPU.

Videos: two squares of the same class and colour move linearly across each other (64×64, 12 frames; the upper
one occludes the other while they overlap), so identities can only be kept from motion. Both models use the
tiny ``configs/ifr/quickstart.yaml`` network (identical backbone, pixel decoder, seeds and iterations) and are
trained on 2-frame clips (sampling range 3); the only differences are ``MODEL.IFR.ENABLED`` and the
classification loss (focal for IFR, softmax CE for Mask2Former-VIS, as in the papers). Evaluation on held-out
crossing videos: YouTube-VIS AP and the paper-003 consistency metrics (IDF1, MOTA, IDs at score ≥ 0.5; IDs at
score ≥ 0.3 as well). Prints a table (per seed and mean ± sample std); ``--record`` writes it into
``benchmarks/RESULTS.md`` under ``## IFR vs Mask2Former-VIS``.

    python benchmarks/ifr_consistency.py              # 3 seeds, about 15 CPU-minutes on an idle 2-core machine
"""
from __future__ import annotations

import argparse
import json
import os
import re
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
from vidseg.data.datasets.synthetic import CLASS_NAMES, SynthVideo  # noqa: E402
from vidseg.data.datasets.synthetic.writers import write_ytvis  # noqa: E402
from vidseg.data.datasets.ytvis import load_ytvis_json  # noqa: E402

CONFIG = ROOT / "configs" / "ifr" / "quickstart.yaml"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## IFR vs Mask2Former-VIS"
SIZE, LENGTH = 64, 12
COLOR = np.array([225.0, 60.0, 50.0])
VARIANTS = {
    "IFR": [],
    "Mask2Former-VIS": ["MODEL.IFR.ENABLED", "False", "MODEL.IFR.CLASS_LOSS", "ce"],
}
COLUMNS = ("AP", "AP50", "IDF1", "MOTA", "IDs", "IDs@0.3")


def crossing_video(rng: np.random.Generator) -> SynthVideo:
    """Two same-looking squares crossing near the centre at a random frame and angle."""
    half = rng.uniform(8.0, 10.0)
    centre = SIZE / 2 + rng.uniform(-6, 6, size=2)
    t_cross = rng.uniform(4, 7)
    angle = rng.uniform(0, 2 * np.pi)
    angles = (angle, angle + np.pi / 2 + rng.uniform(-0.6, 0.6))
    speeds = rng.uniform(3.0, 4.5, size=2)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    grey = np.kron(rng.uniform(60, 130, size=(SIZE // 8, SIZE // 8)), np.ones((8, 8)))[..., None]
    background = grey + rng.normal(0, 8, size=(SIZE, SIZE, 3))
    color = np.clip(COLOR + rng.normal(0, 8, size=3), 0, 255)
    frames = np.zeros((LENGTH, SIZE, SIZE, 3), np.uint8)
    masks = np.zeros((2, LENGTH, SIZE, SIZE), bool)
    for t in range(LENGTH):
        img = background.copy()
        for k in (1, 0):  # square 0 is painted last: it occludes square 1
            c = centre + speeds[k] * (t - t_cross) * np.array([np.cos(angles[k]), np.sin(angles[k])])
            inside = (np.abs(xs - c[0]) <= half) & (np.abs(ys - c[1]) <= half)
            img[inside] = color * (0.9 + 0.1 * np.sin(0.8 * xs[inside] + k))[:, None]
            masks[k, t] = inside
        masks[1, t] &= ~masks[0, t]
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return SynthVideo(frames=frames, masks=masks, classes=[0, 0], flows=np.zeros((LENGTH - 1, SIZE, SIZE, 2), np.float32),
                      distractor_masks=np.zeros((LENGTH, SIZE, SIZE), bool), distractor_class=-1)


def register_crossing(root: Path, num_train: int, num_val: int) -> None:
    """Write (once) and register ``ifr_crossing_{train,val}`` in YouTube-VIS format."""
    for split, num, seed in (("train", num_train, 1000), ("val", num_val, 2000)):
        folder = root / f"crossing_{split}_{num}"
        if not (folder / "annotations.json").is_file():
            rng = np.random.default_rng(seed)
            write_ytvis(folder, [crossing_video(rng) for _ in range(num)])
        name = f"ifr_crossing_{split}"
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        json_file, image_root = folder / "annotations.json", folder / "JPEGImages"
        DatasetCatalog.register(name, lambda j=json_file, i=image_root, n=name: load_ytvis_json(
            j, i, n, require_annotations=True))
        MetadataCatalog.get(name).set(
            evaluator_type="YTVISEvaluator", task="vis", thing_classes=list(CLASS_NAMES), has_gt=True,
            thing_dataset_id_to_contiguous_id={i + 1: i for i in range(len(CLASS_NAMES))},
            json_file=str(json_file), image_root=str(image_root),
        )


def run(variant: str, seed: int, iters: int, out: Path) -> dict:
    """Train one model (``train_net.py``), then evaluate it on the held-out crossing videos (``--eval-only``)."""
    common = [
        "DATASETS.TRAIN", '("ifr_crossing_train",)', "INPUT.MIN_SIZE_TRAIN", f"({SIZE},)", "INPUT.MAX_SIZE_TRAIN",
        str(SIZE), "INPUT.MIN_SIZE_TEST", str(SIZE), "INPUT.MAX_SIZE_TEST", str(SIZE), "INPUT.CLIP.SAMPLING_RANGE",
        "3", "SEED", str(seed), "TEST.VIS_VIDEOS", "0", "OUTPUT_DIR", str(out), *VARIANTS[variant],
    ]
    train = ["DATASETS.TEST", "()", "SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({int(iters * 0.8)},)",
             "SOLVER.CHECKPOINT_PERIOD", str(iters + 1)]
    train_net.main(default_argument_parser().parse_args(["--config-file", str(CONFIG), *common, *train]))
    test = ["DATASETS.TEST", '("ifr_crossing_val",)', "MODEL.WEIGHTS", str(out / "model_final.pth")]
    args = default_argument_parser().parse_args(["--config-file", str(CONFIG), "--eval-only", *common, *test])
    results = train_net.main(args)
    metrics = dict(results.get("ytvis", results.get("segm", {})))
    details = json.loads(next(out.rglob("ytvis_details.json")).read_text())
    metrics["IDs@0.3"] = details["consistency_by_score_threshold"]["0.3"]["IDs"]
    return {c: float(metrics[c]) * (100 if c in ("AP", "AP50", "IDF1", "MOTA") else 1) for c in COLUMNS}


def table(rows: list[tuple[str, int, dict]]) -> str:
    lines = ["| model | seed | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for name, seed, m in rows:
        lines.append(f"| {name} | {seed} | " + " | ".join(f"{m[c]:.1f}" for c in COLUMNS) + " |")
    for name in VARIANTS:
        ms = [m for n, _, m in rows if n == name]
        if len(ms) > 1:
            cells = []
            for c in COLUMNS:
                v = np.array([m[c] for m in ms])
                cells.append(f"{v.mean():.1f} ± {v.std(ddof=1):.1f}")
            lines.append(f"| **{name}** | mean ± std | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def record(text: str) -> None:
    """Replace (or append) the ``## IFR vs Mask2Former-VIS`` section of benchmarks/RESULTS.md."""
    old = RESULTS.read_text() if RESULTS.is_file() else ""
    pattern = re.compile(rf"{re.escape(SECTION)}\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip("\n"), old)
    else:
        new = old.rstrip("\n") + "\n\n" + text if old.strip() else text
    RESULTS.write_text(new.rstrip("\n") + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--train-videos", type=int, default=48)
    p.add_argument("--val-videos", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared machine)")
    p.add_argument("--out", default=str(ROOT / "output" / "bench_ifr_consistency"))
    p.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    register_crossing(out / "data", a.train_videos, a.val_videos)
    rows, start = [], time.time()
    for seed in a.seeds:
        for name in VARIANTS:
            rows.append((name, seed, run(name, seed, a.iters, out / f"{name.split('-')[0].lower()}_seed{seed}")))
    minutes = (time.time() - start) / 60
    text = (
        f"{SECTION}\n\n`python benchmarks/ifr_consistency.py --seeds {' '.join(map(str, a.seeds))} --iters {a.iters}` "
        f"({a.train_videos} train / {a.val_videos} held-out crossing videos, {SIZE}×{SIZE}, {LENGTH} frames; tiny "
        f"`configs/ifr/quickstart.yaml` network, {a.iters} iterations of 4 two-frame clips; {a.threads} CPU thread(s), "
        f"{minutes:.0f} min in all). AP/AP50/IDF1/MOTA ×100; IDF1, MOTA, IDs at score ≥ 0.5 (paper protocol), "
        f"IDs@0.3 at score ≥ 0.3. {2 * a.val_videos} IDs means both identities swap at every crossing.\n\n"
        f"{table(rows)}\n"
    )
    print("\n" + text)
    if a.record:
        record(text)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
