"""Inference of any registered method on a user's video, streamed in overlapping chunks (``demo/demo.py``).

The video is cut into chunks of ``chunk`` frames that share one frame with the next chunk. Each chunk becomes a
video record run through the config's test mapper (``INPUT.MAPPER.TEST``: resizing, flow for two-stream models)
and the model, exactly as in evaluation; a chunk's tracks are linked to the previous chunk's by mask IoU on the
shared frame (Hungarian, ``vidseg.tracking.assign``). VOS models get the objects of the shared frame as the next
chunk's first-frame masks. Only one chunk of frames is in memory at a time; ``chunk=0`` runs the whole video in
one pass (the model's own behaviour on long videos, memory growing with the video).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog

from vidseg.data.io.video import VideoInputError
from vidseg.evaluation.base import track_rles
from vidseg.structures.masks import RLE, iou_matrix
from vidseg.structures.video_instances import VideoInstances

__all__ = ["ChunkLinker", "FrameResult", "VideoPredictor", "label_map", "read_first_frame_masks"]

logger = logging.getLogger(__name__)


class ChunkLinker:
    """Global track ids across chunks: a chunk's track takes the id of the previous chunk's track whose mask on
    the shared frame it overlaps most (one-to-one, IoU ≥ ``iou_threshold``); others get new ids."""

    def __init__(self, iou_threshold: float = 0.5) -> None:
        self.iou_threshold = float(iou_threshold)
        self.next_id = 1
        self.last: dict[int, RLE] = {}  # global id -> mask on the previous chunk's last frame

    def link(self, rows: list[list[RLE | None]], *, shares_first_frame: bool) -> list[int]:
        """Global ids of a chunk's tracks (``rows``: per track, one RLE or None per chunk frame)."""
        from vidseg.tracking import assign

        ids = [0] * len(rows)
        cands = [k for k, row in enumerate(rows) if row and row[0] is not None]
        if shares_first_frame and self.last and cands:
            gids = list(self.last)
            iou = iou_matrix([self.last[g] for g in gids], [rows[k][0] for k in cands])
            for r, c in assign(-iou, iou >= self.iou_threshold):
                ids[cands[c]] = gids[r]
        for k in range(len(rows)):
            if ids[k] == 0:
                ids[k], self.next_id = self.next_id, self.next_id + 1
        self.last = {ids[k]: row[-1] for k, row in enumerate(rows) if row and row[-1] is not None}
        return ids


@dataclass
class FrameResult:
    """One output frame: its index, name, BGR image and the tracks present (global id, label, score, RLE)."""

    index: int
    name: str
    image: np.ndarray
    tracks: list[tuple[int, int, float, RLE]] = field(default_factory=list)


def read_first_frame_masks(path: str | Path, frame_names: list[str], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """``--first-frame-masks``: one palette PNG (the first frame's objects) or a folder of ``<frame name>.png``
    (objects may start on later frames). Returns frame name -> H×W object-id map."""
    from vidseg.data.io.png import read_indexed_png

    p = Path(path)
    if p.is_dir():
        files = {f.stem: f for f in sorted(p.glob("*.png"))}
        if not files:
            raise VideoInputError(f"{p}: no PNG masks (expected <frame name>.png palette PNGs)")
    elif p.is_file():
        files = {frame_names[0]: p}
    else:
        raise VideoInputError(f"{p}: first-frame mask not found")
    out = {}
    for stem, f in files.items():
        try:
            labels = read_indexed_png(f)
        except ValueError as e:
            raise VideoInputError(f"{f}: {e}") from e
        if labels.shape != tuple(size):
            raise VideoInputError(f"{f}: mask of size {labels.shape} but the frames are {tuple(size)} (H, W)")
        out[stem] = labels
    return out


class VideoPredictor:
    """A model of ``cfg`` (weights from ``MODEL.WEIGHTS``) with the config's test mapper, run chunk by chunk."""

    def __init__(self, cfg: CfgNode, *, chunk: int = 30, link_iou: float = 0.5) -> None:
        from detectron2.modeling import build_model

        from vidseg.checkpoint import VidsegCheckpointer
        from vidseg.registry import MAPPER_REGISTRY

        self.cfg = cfg
        self.chunk = int(chunk)
        if self.chunk == 1:
            raise ValueError("--chunk must be 0 (whole video) or at least 2 (chunks share one frame)")
        self.link_iou = link_iou
        self.model = build_model(cfg).eval()
        if cfg.MODEL.WEIGHTS:
            VidsegCheckpointer(self.model).load(cfg.MODEL.WEIGHTS)
        else:
            logger.warning("MODEL.WEIGHTS is empty: running a randomly initialised model")
        self.mapper = MAPPER_REGISTRY.get(cfg.INPUT.MAPPER.TEST)(cfg, False)
        name = cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else None
        self.metadata = MetadataCatalog.get(name) if name else None

    @torch.no_grad()
    def predict(self, record: dict) -> VideoInstances:
        """The model's ``VideoInstances`` for one video record (frames on disk)."""
        return self.model([self.mapper(record)])[0]["video_instances"]

    def _chunks(self, frames: Iterable[tuple[str, Path, np.ndarray]]) -> Iterator[tuple[int, list, bool]]:
        """(start index, [(name, path, image)], is last) for chunks of ``chunk + 1`` frames sharing one frame."""
        buf: list = []
        start = 0
        it = iter(frames)
        size = self.chunk + 1 if self.chunk else None
        for item in it:
            buf.append(item)
            if size and len(buf) == size:
                nxt = next(it, None)
                yield start, buf, nxt is None
                if nxt is None:
                    return
                start += len(buf) - 1
                buf = [buf[-1], nxt]
        if buf:
            yield start, buf, True

    def _record(self, name: str, chunk: list, given: dict[str, np.ndarray] | None,
                carried: np.ndarray | None, flow_dir: Path | None = None) -> dict:
        from vidseg.data.datasets.common import entries_from_label_map, first_appearance, flow_file_names

        h, w = chunk[0][2].shape[:2]
        rec: dict[str, Any] = {"video_id": name, "file_names": [str(p) for _, p, _ in chunk], "height": h,
                               "width": w, "length": len(chunk)}
        if flow_dir is not None:  # precomputed <frame name>.flo files
            rec["flow_file_names"] = flow_file_names(Path(flow_dir), rec["file_names"])
        if given is not None:
            anns = []
            for i, (stem, _, _) in enumerate(chunk):
                labels = carried if i == 0 and carried is not None else None
                if stem in given:  # objects first given on this frame join the carried ones
                    labels = given[stem] if labels is None else np.where(labels > 0, labels, given[stem])
                anns.append(entries_from_label_map(labels) if labels is not None and labels.any() else None)
            rec["annotations"] = anns
            rec["vos_init"] = first_appearance(anns)
        return rec

    def run(self, name: str, frames: Iterable[tuple[str, Path, np.ndarray]], *,
            first_frame_masks: str | Path | None = None, flow_dir: str | Path | None = None
            ) -> Iterator[FrameResult]:
        """Yield every frame's result, in order, as soon as it is final. ``frames``: (name, file, BGR image);
        ``flow_dir``: a folder of precomputed ``<frame name>.flo`` (two-stream models)."""
        linker = ChunkLinker(self.link_iou)
        given = None
        carried = None
        for start, chunk, last in self._chunks(frames):
            if first_frame_masks is not None and given is None:
                given = read_first_frame_masks(first_frame_masks, [s for s, _, _ in chunk], chunk[0][2].shape[:2])
            vi = self.predict(self._record(name, chunk, given, carried, flow_dir))
            rows = track_rles(vi, len(chunk))
            ids = linker.link(rows, shares_first_frame=start > 0)
            emit = len(chunk) if last else len(chunk) - 1  # the shared last frame is emitted by the next chunk
            for i in range(emit):
                stem, _, image = chunk[i]
                tracks = [(ids[k], int(vi.labels[k]), float(vi.scores[k]), rows[k][i])
                          for k in range(len(rows)) if rows[k][i] is not None]
                yield FrameResult(start + i, stem, image, tracks)
            if given is not None:  # VOS: the shared frame's objects start the next chunk
                carried = label_map([(ids[k], float(vi.scores[k]), rows[k][-1]) for k in range(len(rows))
                                     if rows[k][-1] is not None], chunk[-1][2].shape[:2])


def label_map(tracks: list[tuple[int, float, RLE]], size: tuple[int, int]) -> np.ndarray:
    """H×W object ids from (id, score, RLE), painted in ascending score (highest on top); ids above 254 wrap
    to 1..254 (255 is the datasets' void label)."""
    from vidseg.structures.masks import decode_mask

    out = np.zeros(size, np.uint8)
    for gid, _, rle in sorted(tracks, key=lambda t: t[1]):
        out[decode_mask(rle).astype(bool)] = (gid - 1) % 254 + 1
    return out
