#!/usr/bin/env python
"""Run any registered vidseg method on your own video (Detectron2 / Mask2Former demo conventions).

    python demo/demo.py --config-file configs/ifr/quickstart.yaml --video-input clip.mp4 --output out.mp4 \\
        MODEL.WEIGHTS output/quickstart/ifr/trained/model_final.pth
    python demo/demo.py --config-file CFG --input frames_dir/ --output out/ [--first-frame-masks 00000.png] \\
        --opts MODEL.WEIGHTS model.pth

Writes the overlay video (masks coloured by track id, captioned "<id> <class> <score>"), one palette PNG of
track ids per frame and a YouTube-VIS ``results.json``. ``--output out.mp4`` puts the PNGs and the json into
``out/``; ``--output DIR`` writes ``DIR/overlay.mp4`` as well. VOS methods take ``--first-frame-masks`` (one
palette PNG for the first frame, or a folder of ``<frame name>.png`` for objects that start later). Two-stream
models (moseg) read ``<frame name>.flo`` next to the frames when present, else estimate flow with OpenCV DIS.
Frames are processed in chunks of ``--chunk`` frames sharing one frame (memory stays flat in the video's
length; ``--chunk 0`` = the whole video at once). CPU when no GPU is visible.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in a checkout

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video-input", help="a video file (mp4, avi, ... anything OpenCV reads)")
    src.add_argument("--input", nargs="+", help="a folder of frames, or image files (sorted by name)")
    p.add_argument("--output", required=True, help="overlay .mp4 (side outputs in a folder of the same name) or a folder")
    p.add_argument("--first-frame-masks", help="VOS: palette PNG of the first frame's objects, or a folder of them")
    p.add_argument("--confidence-threshold", type=float, default=0.5, help="min score drawn and written to PNGs")
    p.add_argument("--chunk", type=int, default=30, help="frames per chunk (0 = whole video in one pass)")
    p.add_argument("--fps", type=float, default=None, help="overlay frame rate (default: the video's, else 10)")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config KEY VALUE pairs (also accepted "
                   "without --opts at the end of the command line)")
    return p


def output_paths(output: str) -> tuple[Path, Path]:
    """(overlay mp4, folder of the PNGs / results.json / extracted frames)."""
    out = Path(output)
    if out.suffix.lower() == ".mp4":
        return out, out.with_suffix("")
    if out.suffix:
        raise ValueError(f"--output {output}: expected a .mp4 file or a folder")
    return out / "overlay.mp4", out


def setup_cfg(args, opts: list[str]):
    import torch

    from vidseg.config import load_config

    cfg = load_config(args.config_file, opts)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    if cfg.INPUT.FLOW.SOURCE == "precomputed" and precomputed_flow_dir(args) is None:
        cfg.INPUT.FLOW.SOURCE = "dis"  # two-stream models without .flo files: OpenCV DIS flow on the fly
    cfg.freeze()
    return cfg


def precomputed_flow_dir(args) -> Path | None:
    """The frames folder when it holds ``<frame name>.flo`` files."""
    frames_dir = Path(args.input[0]) if args.input and len(args.input) == 1 else None
    return frames_dir if frames_dir is not None and frames_dir.is_dir() and any(frames_dir.glob("*.flo")) else None


def frames_on_disk(source, side: Path):
    """(name, file, BGR image) per frame: video frames are saved as JPEGs (the test mapper reads files)."""
    frame_dir = side / "frames"
    for i, (name, image) in enumerate(source):
        if source.video is not None:
            frame_dir.mkdir(parents=True, exist_ok=True)
            path = frame_dir / f"{name}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        else:
            path = source.files[i]
        yield name, path, image


class Outputs:
    """Overlay mp4, per-frame PNGs of track ids and the per-track accumulators of results.json."""

    def __init__(self, overlay: Path, side: Path, metadata, fps: float, threshold: float) -> None:
        self.overlay, self.side, self.metadata = overlay, side, metadata
        self.fps, self.threshold = fps, threshold
        self.writer = None
        self.masks: dict[int, dict[int, dict]] = defaultdict(dict)
        self.scores: dict[int, list[float]] = defaultdict(list)
        self.labels: dict[int, Counter] = defaultdict(Counter)
        self.num_frames = 0
        self.size = None

    def add(self, fr) -> None:
        from vidseg.engine.video_predictor import label_map
        from vidseg.structures.video_instances import VideoInstances
        from vidseg.data.io.png import write_indexed_png
        from vidseg.utils.video_visualizer import render_frames

        h, w = fr.image.shape[:2]
        if self.writer is None:
            self.size = (h, w)
            self.overlay.parent.mkdir(parents=True, exist_ok=True)
            self.writer = cv2.VideoWriter(str(self.overlay), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise ValueError(f"{self.overlay}: OpenCV cannot write an mp4 here (codec mp4v)")
        for gid, label, score, rle in fr.tracks:
            self.masks[gid][fr.index] = rle
            self.scores[gid].append(score)
            self.labels[gid][max(label, 0)] += 1  # VOS tracks are class-agnostic (-1): the one class "object"
        shown = [t for t in fr.tracks if t[2] >= self.threshold]
        vi = VideoInstances(image_size=(h, w), frame_idx=[0], track_ids=[t[0] for t in shown],
                            scores=[t[2] for t in shown], labels=[t[1] for t in shown], masks=[[t[3]] for t in shown])
        rgb = render_frames([fr.image[:, :, ::-1]], vi, self.metadata)[0]
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        write_indexed_png(self.side / "masks" / f"{fr.name}.png", label_map([(t[0], t[2], t[3]) for t in shown], (h, w)))
        self.num_frames += 1

    def close(self) -> Path:
        """Release the video writer and write ``results.json`` (YouTube-VIS format, video_id 1)."""
        from vidseg.evaluation.submission import ytvis_results
        from vidseg.structures.video_instances import VideoInstances

        if self.writer is not None:
            self.writer.release()
        gids = sorted(self.masks)
        vi = VideoInstances(image_size=self.size or (0, 0), frame_idx=list(range(self.num_frames)), track_ids=gids,
                            scores=[float(np.mean(self.scores[g])) for g in gids],
                            labels=[self.labels[g].most_common(1)[0][0] for g in gids],
                            masks=[[self.masks[g].get(t) for t in range(self.num_frames)] for g in gids])
        id_map = self.metadata.get("thing_dataset_id_to_contiguous_id", None) if self.metadata else None
        to_dataset = {v: k for k, v in id_map.items()} if id_map else {c: c + 1 for c in set(vi.labels)}
        record = {"video_id": 1, "file_names": [""] * self.num_frames}
        path = self.side / "results.json"
        path.write_text(json.dumps(ytvis_results([record], {1: vi}, to_dataset)))
        return path


def run(args, opts: list[str]) -> int:
    from tqdm import tqdm

    import vidseg  # noqa: F401  (registers datasets, mappers, meta-architectures, method packages)
    from vidseg.data.io.video import FrameSource
    from vidseg.engine.video_predictor import VideoPredictor

    overlay, side = output_paths(args.output)
    source = FrameSource(video=args.video_input) if args.video_input else FrameSource(
        images=args.input[0] if len(args.input) == 1 and Path(args.input[0]).is_dir() else args.input)
    cfg = setup_cfg(args, opts)
    if cfg.INPUT.FLOW.SOURCE != "precomputed":
        cfg.defrost()
        cfg.INPUT.FLOW.CACHE_ROOT = str(side / "flow")
        cfg.freeze()
    predictor = VideoPredictor(cfg, chunk=args.chunk)
    outputs = Outputs(overlay, side, predictor.metadata, args.fps or source.fps, args.confidence_threshold)
    bar = tqdm(total=source.num_frames, unit="frame", desc=source.name, dynamic_ncols=True)
    try:
        flow_dir = precomputed_flow_dir(args) if cfg.INPUT.FLOW.SOURCE == "precomputed" else None
        for fr in predictor.run(source.name, frames_on_disk(source, side), first_frame_masks=args.first_frame_masks,
                                flow_dir=flow_dir):
            outputs.add(fr)
            bar.update(1)
    finally:
        bar.close()
        results = outputs.close()
    print(f"{outputs.num_frames} frames on {cfg.MODEL.DEVICE}: {overlay}, {side / 'masks'}/, {results}")
    return 0


def main(argv=None) -> int:
    parser = get_parser()
    args, extra = parser.parse_known_args(argv)
    opts = list(args.opts) + list(extra)
    if any(o.startswith("--") for o in opts[::2]) or len(opts) % 2:
        parser.error(f"unrecognized arguments: {' '.join(extra)} (config overrides are KEY VALUE pairs)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from vidseg.config import ConfigError
    from vidseg.data.io.errors import DatasetFormatError

    try:
        return run(args, opts)
    except (ValueError, FileNotFoundError, ConfigError, DatasetFormatError) as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
