"""An evaluator-shaped hook that writes overlay GIFs / mp4s of the first few test videos, coloured by track id."""
from __future__ import annotations

import os

from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm


class OverlayWriter(DatasetEvaluator):
    """Writes ``<output_dir>/<video_id>.<fmt>`` (``gif`` or ``mp4``) for the first ``max_videos`` videos seen on
    the main process."""

    def __init__(self, dataset_name: str, output_dir: str, *, max_videos: int = 1, fmt: str = "gif") -> None:
        if fmt not in ("gif", "mp4"):
            raise ValueError(f"TEST.VIS_FORMAT={fmt!r}: expected 'gif' or 'mp4'")
        self._fmt = fmt
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._max_videos = max_videos
        self._written: list[str] = []

    def reset(self) -> None:
        self._written = []

    def process(self, inputs, outputs) -> None:
        from vidseg.utils.video_visualizer import write_overlay

        if not comm.is_main_process():
            return
        for inp, out in zip(inputs, outputs):
            if len(self._written) >= self._max_videos:
                return
            os.makedirs(self._output_dir, exist_ok=True)
            path = os.path.join(self._output_dir, f"{inp['video_id']}.{self._fmt}")
            frames = [inp["file_names"][i] for i in out["video_instances"].frame_idx]
            write_overlay(frames, out["video_instances"], path, MetadataCatalog.get(self._dataset_name))
            self._written.append(path)

    def evaluate(self) -> dict:
        return {}

    @property
    def written(self) -> list[str]:
        return list(self._written)
