#!/usr/bin/env python
"""KITTI-MOTS split files: the TrackR-CNN train / val sequence lists and per-split ground-truth folders.

Writes ``<root>/splits/{train,val}.txt`` (one sequence per line, as registered for ``kitti_mots_{train,val}``) and
``<root>/gt_{train,val}/<seq>.txt`` (copies of ``instances_txt/<seq>.txt``), the folder that
``python -m vidseg.evaluation mots --gt <root>/gt_val --pred ...`` scores against.

    python datasets/prepare_kitti_mots.py [--root datasets/kitti_mots]

Idempotent and resumable: files already equal to their source are kept; each file is written under a temporary
name and renamed.
"""
from __future__ import annotations

import sys
from pathlib import Path

from vidseg.data.datasets.kitti_mots import KITTI_MOTS_SPLITS
from vidseg.data.prepare import run_prepare, write_if_changed


def prepare(root: Path) -> dict[str, tuple[int, int]]:
    """Returns {split: (files written, files kept)}."""
    txt_dir = root / "instances_txt"
    missing = [s for seqs in KITTI_MOTS_SPLITS.values() for s in seqs if not (txt_dir / f"{s}.txt").is_file()]
    if missing:
        raise FileNotFoundError(f"{txt_dir / (missing[0] + '.txt')}: KITTI-MOTS instance txt missing "
                                f"({len(missing)} of the 21 sequences; see datasets/README.md)")
    out = {}
    for split, seqs in KITTI_MOTS_SPLITS.items():
        changed = [write_if_changed(root / "splits" / f"{split}.txt", ("\n".join(seqs) + "\n").encode())]
        for s in seqs:
            changed.append(write_if_changed(root / f"gt_{split}" / f"{s}.txt", (txt_dir / f"{s}.txt").read_bytes()))
        out[split] = (sum(changed), len(changed) - sum(changed))
    return out


def report(root: Path, _split: None) -> str:
    return "\n".join(f"{split}: {w} files written, {k} up to date ({root / 'splits' / (split + '.txt')}, "
                     f"{root / ('gt_' + split)})" for split, (w, k) in prepare(root).items())


def main(argv: list[str] | None = None) -> int:
    return run_prepare(argv, doc=__doc__, subdir="kitti_mots", work=report)


if __name__ == "__main__":
    sys.exit(main())
