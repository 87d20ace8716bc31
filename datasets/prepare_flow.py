#!/usr/bin/env python
"""Precompute optical flow for whole registered datasets with OpenCV (DIS or Farneback) as Middlebury ``.flo``.

Flow from frame t to t+1 is stored under frame t's stem; the last frame of each video has none.

    # into the dataset's flow_root (<flow_root>/<video>/<frame stem>.flo): the loaders then list it as precomputed
    python datasets/prepare_flow.py --dataset fbms_59_test --dataset fbms_59_train --method dis --preset medium
    # into the cache that INPUT.FLOW.SOURCE=dis fills lazily (<frame folder>/flow_dis_medium/)
    python datasets/prepare_flow.py --dataset davis_moving_val --into cache

Videos whose flow files already exist are skipped, so an interrupted run can be restarted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detectron2.data import DatasetCatalog, MetadataCatalog

import vidseg.data  # noqa: F401  (registers the datasets)
from vidseg.data.flow import DIS_PRESETS, FLOW_METHODS, attach_flow


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", action="append", required=True, help="registered dataset name (repeatable)")
    p.add_argument("--method", choices=FLOW_METHODS, default="dis")
    p.add_argument("--preset", choices=tuple(DIS_PRESETS), default="medium", help="DIS preset")
    p.add_argument("--into", choices=("flow_root", "cache"), default="flow_root",
                   help="the dataset's flow_root metadata folder, or the INPUT.FLOW.SOURCE cache")
    p.add_argument("--cache-root", default="", help="with --into cache: INPUT.FLOW.CACHE_ROOT ('' = next to frames)")
    p.add_argument("--limit", type=int, default=0, help="only the first N videos of each dataset (0 = all)")
    return p.parse_args(argv)


def prepare(name: str, args: argparse.Namespace) -> int:
    """Compute the flow of one dataset; returns the number of videos handled."""
    records = DatasetCatalog.get(name)
    if args.limit > 0:
        records = records[: args.limit]
    kwargs = {"method": args.method, "preset": args.preset}
    if args.into == "flow_root":
        root = MetadataCatalog.get(name).get("flow_root", None)
        if not root:
            raise SystemExit(f"error: dataset {name!r} has no 'flow_root' metadata; use --into cache")
        attach_flow(records, out_dirs=[Path(root) / str(r["video_id"]) for r in records], **kwargs)
    else:
        attach_flow(records, cache_root=args.cache_root or None, **kwargs)
    return len(records)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in args.dataset:
        if name not in DatasetCatalog.list():
            print(f"error: dataset {name!r} is not registered", file=sys.stderr)
            return 2
    for name in args.dataset:
        n = prepare(name, args)
        print(f"{name}: flow ready for {n} videos ({args.method}{'/' + args.preset if args.method == 'dis' else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
