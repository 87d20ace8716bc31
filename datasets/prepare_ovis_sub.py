#!/usr/bin/env python
"""Split OVIS train into ``annotations_sub_train.json`` / ``annotations_sub_val.json`` for local evaluation.

OVIS has no public validation ground truth, so ``ovis_sub_{train,val}`` hold out a fixed, seeded fraction of
the train videos (both read frames from ``ovis/train``)::

    python datasets/prepare_ovis_sub.py [--root datasets/ovis] [--val-fraction 0.1] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path


def split_ovis(train_json: Path, out_dir: Path, *, val_fraction: float, seed: int) -> tuple[int, int]:
    """Write the two jsons next to the train json; returns (#train videos, #val videos)."""
    data = json.loads(train_json.read_text())
    if "annotations" not in data or "videos" not in data:
        raise SystemExit(f"{train_json}: not an OVIS train json (expected 'videos' and 'annotations')")
    ids = sorted(v["id"] for v in data["videos"])
    random.Random(seed).shuffle(ids)
    val_ids = set(ids[: max(1, round(len(ids) * val_fraction))])
    for name, keep in (("annotations_sub_train.json", lambda i: i not in val_ids),
                       ("annotations_sub_val.json", lambda i: i in val_ids)):
        sub = dict(data)
        sub["videos"] = [v for v in data["videos"] if keep(v["id"])]
        sub["annotations"] = [a for a in data["annotations"] if keep(a["video_id"])]
        (out_dir / name).write_text(json.dumps(sub))
    return len(ids) - len(val_ids), len(val_ids)


def main() -> None:
    default_root = Path(os.environ.get("DETECTRON2_DATASETS", "datasets")) / "ovis"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=default_root)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ann_dir = args.root / "annotations"
    train_json = ann_dir / "annotations_train.json"
    if not train_json.is_file():
        raise SystemExit(f"{train_json}: not found (expected the OVIS layout of datasets/README.md)")
    n_train, n_val = split_ovis(train_json, ann_dir, val_fraction=args.val_fraction, seed=args.seed)
    print(f"wrote {ann_dir}/annotations_sub_{{train,val}}.json: {n_train} / {n_val} videos")


if __name__ == "__main__":
    main()
