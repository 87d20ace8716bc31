"""Check datasets on disk: ``python -m vidseg.data.verify NAME [NAME ...] | --all | --synthetic``.

For each registered name: the loader runs on the files (layout, split lists, annotation files; its one-line error
names the missing or malformed file), then every listed frame is opened (readable, size equal to the video's),
and per video the annotation count equals the frame count, masks have the video's size and object ids are
unique per frame; listed flow files must exist. One line per dataset (``ok`` or ``FAIL`` with the first problem
and the number of others); ``--verbose`` lists every problem. Exit status 1 when a dataset fails.

``--all`` checks every real dataset (under ``$DETECTRON2_DATASETS``); ``--synthetic`` the generated ``synth_*``
ones. See ``datasets/README.md`` for the layouts and ``datasets/prepare_*.py`` for the conversions.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import Sequence

from PIL import Image

from vidseg.data.datasets.common import NO_CACHE_ENV, datasets_root
from vidseg.data.io.errors import DatasetFormatError

MAX_LISTED = 20  # problems printed per dataset with --verbose


@dataclass
class Report:
    """The outcome for one dataset: counts checked and the problems found (each naming a file)."""

    name: str
    videos: int = 0
    frames: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if not self.problems:
            return f"ok   {self.name}: {self.videos} videos, {self.frames} frames"
        more = f" (+{len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        return f"FAIL {self.name}: {self.problems[0]}{more}"


def _check_frame(path: str, size: tuple[int, int], report: Report) -> None:
    try:
        with Image.open(path) as img:
            w, h = img.size
    except FileNotFoundError:
        report.problems.append(f"{path}: frame missing")
        return
    except (OSError, SyntaxError, ValueError) as e:
        report.problems.append(f"{path}: unreadable frame ({e})")
        return
    if (h, w) != size:
        report.problems.append(f"{path}: frame is {h}x{w}, the video {size[0]}x{size[1]}")


def check_record(record: dict, report: Report, *, frames: bool = True) -> None:
    """Append the problems of one video record to ``report``."""
    vid = record.get("video_id")
    names = record.get("file_names") or []
    size = (int(record.get("height", 0)), int(record.get("width", 0)))
    report.videos += 1
    if not names:
        report.problems.append(f"video {vid!r}: no frames")
        return
    anns = record.get("annotations")
    if anns is not None and len(anns) != len(names):
        report.problems.append(f"video {vid!r}: {len(anns)} annotation entries for {len(names)} frames ({names[0]})")
    for t, path in enumerate(names):
        report.frames += 1
        if frames:
            _check_frame(path, size, report)
        objs = anns[t] if anns is not None and t < len(anns) else None
        ids = [o["id"] for o in objs or ()]
        if len(set(ids)) != len(ids):
            report.problems.append(f"{path}: object ids {ids} repeat in one frame")
        for o in objs or ():
            seg = o.get("segmentation")
            if isinstance(seg, dict) and [int(x) for x in seg.get("size", ())] != list(size):
                report.problems.append(f"{path}: object {o['id']} mask is {seg.get('size')}, the video {list(size)}")
    for flow in record.get("flow_file_names") or ():
        if flow is not None and not os.path.isfile(flow):
            report.problems.append(f"{flow}: flow file missing")


def verify(name: str, *, frames: bool = True) -> Report:
    """Load ``name`` through its registered loader and check every record."""
    from detectron2.data import DatasetCatalog

    report = Report(name)
    try:
        records = DatasetCatalog.get(name)
    except KeyError:
        report.problems.append("not a registered dataset (see datasets/README.md for the names)")
        return report
    except Exception as e:  # noqa: BLE001 (a loader's own error is the report: it names the file)
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        kind = "" if isinstance(e, (DatasetFormatError, FileNotFoundError, ValueError)) else f"{type(e).__name__}: "
        report.problems.append(f"{kind}{msg}")
        return report
    if not records:
        report.problems.append("the loader returned no videos")
    for r in records:
        check_record(r, report, frames=frames)
    return report


def dataset_names(*, synthetic: bool) -> list[str]:
    """Built-in names: the real datasets, or the generated ``synth_*`` ones."""
    from vidseg.data.datasets.builtin import builtin_datasets

    return [n for n in builtin_datasets() if n.startswith("synth_") == synthetic]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidseg.data.verify", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="registered dataset names")
    parser.add_argument("--all", action="store_true", help="every real dataset under $DETECTRON2_DATASETS")
    parser.add_argument("--synthetic", action="store_true", help="every synth_* dataset")
    parser.add_argument("--no-frames", action="store_true", help="skip opening every frame (faster)")
    parser.add_argument("--verbose", action="store_true", help=f"list up to {MAX_LISTED} problems per dataset")
    args = parser.parse_args(argv)
    import vidseg.data  # noqa: F401  (registers the built-in names)

    names = list(args.names)
    if args.all:
        names += dataset_names(synthetic=False)
    if args.synthetic:
        names += dataset_names(synthetic=True)
    if not names:
        parser.error("name datasets, or use --all / --synthetic")
    os.environ[NO_CACHE_ENV] = "1"  # check the files, not a cached parse
    print(f"# datasets root: {datasets_root().resolve()}", flush=True)
    failed = 0
    for name in dict.fromkeys(names):
        report = verify(name, frames=not args.no_frames)
        print(report.line(), flush=True)
        if args.verbose:
            for p in report.problems[1:MAX_LISTED]:
                print(f"     {p}")
        failed += bool(report.problems)
    if failed:
        print(f"# {failed} of {len(dict.fromkeys(names))} datasets failed (layouts: datasets/README.md)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
