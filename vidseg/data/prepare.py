"""The shared command line of ``datasets/prepare_*.py``: ``--root`` (default ``$DETECTRON2_DATASETS/<subdir>``),
optional repeated ``--split``, one report line per unit of work, and format errors as one line with exit code 2.
Also :func:`write_if_changed`, the idempotent atomic write every prepare script uses."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from vidseg.checkpoint.atomic import atomic_write
from vidseg.data.datasets.common import datasets_root
from vidseg.data.io import DatasetFormatError

__all__ = ["run_prepare", "write_if_changed"]


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` atomically unless ``path`` already holds it; True when written."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(str(path), lambda f: f.write(data))
    return True


def run_prepare(
    argv: Sequence[str] | None, *, doc: str, subdir: str, work: Callable[[Path, str | None], str],
    splits: Sequence[str] = (),
) -> int:
    """Parse the arguments, call ``work(root, split)`` per split (once with ``None`` when the script has no splits)
    and print what it returns. Returns the exit code."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--root", type=Path, default=datasets_root() / subdir)
    if splits:
        ap.add_argument("--split", action="append", help=f"{' / '.join(splits)} (default: all)")
    args = ap.parse_args(argv)
    try:
        for split in (args.split or list(splits)) if splits else [None]:
            print(work(args.root, split))
    except (DatasetFormatError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
