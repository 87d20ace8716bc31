"""``python -m vidseg.submit <server> --results DIR --out FILE.zip``: package predictions as the archive a
benchmark server takes, after checking them.

====================  ============================================================================================
server                archive
====================  ============================================================================================
ytvis19, ytvis21      ``results.json`` at the zip root (no folder): a list of ``{video_id, score, category_id,
ovis                  segmentations}``, category ids 1..40 (YouTube-VIS) or 1..25 (OVIS), one compressed RLE
                      (``counts`` a string) or ``null`` per frame, masks at the original size
davis17-testdev       ``<sequence>/<frame>.png`` at the zip root: 'P'-mode PNGs with the DAVIS palette, object ids
                      as pixel values, one per frame of the 480p images
ytvos18, ytvos19      ``Annotations/<video>/<frame>.png``: the same PNGs for the frames of ``valid/JPEGImages``
====================  ============================================================================================

``--results`` is the evaluation output folder of ``train_net.py --eval-only`` (``inference/<dataset>/``, holding
``results.json`` or ``Annotations/``), of ``demo/demo.py``, or any folder in those layouts (a results json file
is accepted for the VIS servers). ``--split-json`` (VIS: the split's ``valid.json``) and ``--frames`` (VOS: the
split's ``JPEGImages`` folder) also check that every video and frame is covered at the right size.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from vidseg.evaluation.submission import (check_ytvis_results, find_png_tree, write_png_archive, write_ytvis_archive,
                                          ytvis_split_videos)

__all__ = ["SERVERS", "Server", "main", "make_submission"]


@dataclass(frozen=True)
class Server:
    task: str  # "vis" | "vos"
    description: str
    num_classes: int = 0  # vis: category ids 1..num_classes
    arc_root: str = ""  # vos: folder of the video folders inside the zip ("" = zip root)


def _servers() -> dict[str, Server]:
    from vidseg.data.datasets.builtin import OVIS_CLASSES, YTVIS_2019_CLASSES, YTVIS_2021_CLASSES

    return {
        "ytvis19": Server("vis", "YouTube-VIS 2019 (CodaLab)", num_classes=len(YTVIS_2019_CLASSES)),
        "ytvis21": Server("vis", "YouTube-VIS 2021 (CodaLab)", num_classes=len(YTVIS_2021_CLASSES)),
        "ovis": Server("vis", "OVIS (CodaLab)", num_classes=len(OVIS_CLASSES)),
        "davis17-testdev": Server("vos", "DAVIS 2017 semi-supervised test-dev (CodaLab)", arc_root=""),
        "ytvos18": Server("vos", "YouTube-VOS 2018 validation (CodaLab)", arc_root="Annotations"),
        "ytvos19": Server("vos", "YouTube-VOS 2019 validation (CodaLab)", arc_root="Annotations"),
    }


SERVERS = _servers()


def _read_results_json(results: Path) -> tuple[Path, object]:
    path = results if results.is_file() else results / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: results json not found (train_net.py --eval-only and demo/demo.py write "
                                "results.json into their output folder)")
    try:
        return path, json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path}: not valid json ({e})") from e


def make_submission(server: str, results: str | Path, out: str | Path, *, split_json: str | None = None,
                    frames: str | None = None) -> str:
    """Write the archive of ``server`` from ``results`` to ``out``; returns a one-line summary."""
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r}; expected one of {sorted(SERVERS)}")
    spec, results, out = SERVERS[server], Path(results), Path(out)
    if out.suffix != ".zip":
        raise ValueError(f"{out}: the output must be a .zip file")
    if spec.task == "vis":
        path, data = _read_results_json(results)
        videos = ytvis_split_videos(split_json) if split_json else None
        checked = check_ytvis_results(data, str(path), num_classes=spec.num_classes, videos=videos)
        write_ytvis_archive(checked, out)
        return f"{out}: {spec.description}, results.json with {len(checked)} tracks " \
               f"in {len({r['video_id'] for r in checked})} videos"
    root = find_png_tree(results)
    _, count = write_png_archive(root, out, spec.arc_root, frames_root=frames)
    where = f"{spec.arc_root}/<video>/" if spec.arc_root else "<video>/ at the zip root"
    return f"{out}: {spec.description}, {count} palette PNGs under {where}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vidseg.submit", description=__doc__.split("\n")[0])
    p.add_argument("server", choices=sorted(SERVERS))
    p.add_argument("--results", required=True, help="evaluation / demo output folder (or a results json: VIS)")
    p.add_argument("--out", required=True, help="the .zip to write")
    p.add_argument("--split-json", help="VIS: the split's json (e.g. valid.json) to check videos, lengths, sizes")
    p.add_argument("--frames", help="VOS: the split's JPEGImages folder, to check that every frame has a PNG")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(make_submission(args.server, args.results, args.out, split_json=args.split_json, frames=args.frames))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
