"""InstMove training data: ``MaskSequenceMapper`` (one instance's mask run from any registered VIS / VOS / MOTS
dataset's ground truth) and the synthetic dataset ``instmove_synthetic_train`` whose
records the same mapper turns into generated sequences (InstMove README).

A sample is a run of L ∈ ``MODEL.INSTMOVE.DATA.CLIP_LENGTH_RANGE`` consecutive annotated frames (every
``FRAME_STRIDE``-th) of one non-crowd object: the first L−1 masks are the input, the last the target. Valid
samples have a non-empty target and at least one non-empty input mask (objects vanishing inside the run are kept:
they are the occlusion cases). Masks are padded to a centred square and resized to ``MODEL.INSTMOVE.INPUT_SIZE``.
"""
from __future__ import annotations

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import DatasetCatalog, MetadataCatalog

from vidseg.data.mappers.common import annotated_frames, decode_segmentation, read_frame, record_name
from vidseg.registry import MAPPER_REGISTRY

from .geometry import pad_image, pad_masks
from .synthetic import occlude, sample_sequence

__all__ = ["MaskSequenceMapper", "register_synthetic", "SYNTHETIC_TRAIN"]

SYNTHETIC_TRAIN = "instmove_synthetic_train"
IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0-255 scale (InstMove README)
IMAGENET_STD = (58.395, 57.12, 57.375)


def register_synthetic(name: str = SYNTHETIC_TRAIN, length: int = 10000) -> None:
    """Records ``{"instmove_synthetic": True}``: the mapper draws a fresh sequence for each (a stream)."""
    if name in DatasetCatalog.list():
        return
    DatasetCatalog.register(name, lambda: [{"video_id": i, "instmove_synthetic": True} for i in range(length)])
    MetadataCatalog.get(name).set(evaluator_type="", thing_classes=["object"])


@MAPPER_REGISTRY.register()
class MaskSequenceMapper:
    """``record -> {"past": n×S×S float, "target": S×S float, "image": 3×S×S | absent, "n": n}`` or ``None``."""

    @configurable
    def __init__(self, *, size: int, length_range=(3, 5), frame_stride: int = 1, random_flip: bool = True,
                 band_prob: float = 0.0, drop_prob: float = 0.0, with_image: bool = False, image_format: str = "RGB",
                 max_tries: int = 10) -> None:
        lo, hi = int(length_range[0]), int(length_range[1])
        if not 3 <= lo <= hi:
            raise ValueError(f"MODEL.INSTMOVE.DATA.CLIP_LENGTH_RANGE: need 3 <= min <= max, got {tuple(length_range)}")
        if frame_stride < 1:
            raise ValueError(f"MODEL.INSTMOVE.DATA.FRAME_STRIDE: must be >= 1, got {frame_stride}")
        self.size, self.lengths, self.stride = int(size), (lo, hi), int(frame_stride)
        self.random_flip, self.band_prob, self.drop_prob = random_flip, band_prob, drop_prob
        self.with_image, self.image_format, self.max_tries = with_image, image_format, max_tries

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        inp = cfg.MODEL.INSTMOVE.DATA
        occ = inp.OCCLUSION_SIM
        im = cfg.MODEL.INSTMOVE
        lo, hi = inp.CLIP_LENGTH_RANGE
        return {
            "size": im.INPUT_SIZE,
            "length_range": (max(lo, im.MIN_INPUT_FRAMES + 1), min(hi, im.MAX_INPUT_FRAMES + 1)),
            "frame_stride": inp.FRAME_STRIDE,
            "random_flip": inp.RANDOM_FLIP and is_train,
            "band_prob": occ.BAND_PROB if occ.ENABLED else 0.0,
            "drop_prob": occ.DROP_PROB if occ.ENABLED else 0.0,
            "with_image": im.IMAGE_ENCODER != "none",
            "image_format": cfg.INPUT.FORMAT,
            "max_tries": inp.MAX_TRIES,
        }

    def _runs(self, record: dict, length: int) -> list[list[int]]:
        frames = annotated_frames(record)
        span = (length - 1) * self.stride
        return [frames[i : i + span + 1 : self.stride] for i in range(len(frames) - span)]

    def _object_masks(self, record: dict, run: list[int], obj) -> np.ndarray:
        h, w = int(record["height"]), int(record["width"])
        out = np.zeros((len(run), h, w), dtype=bool)
        for j, t in enumerate(run):
            for a in record["annotations"][t] or ():
                if a.get("id") == obj and not a.get("iscrowd", 0):
                    out[j] = decode_segmentation(a, h, w, f"{record_name(record)}, frame {t}") > 0
        return out

    def _sample_real(self, record: dict, length: int):
        runs = self._runs(record, length)
        if not runs:
            return None
        for _ in range(self.max_tries):
            run = runs[np.random.randint(len(runs))]
            objs = sorted({a["id"] for a in record["annotations"][run[-1]] or () if not a.get("iscrowd", 0)})
            if not objs:
                continue
            obj = objs[np.random.randint(len(objs))]
            masks = self._object_masks(record, run, obj)
            if masks[-1].any() and masks[:-1].any():
                return masks, run[-1]
        return None

    def __call__(self, record: dict) -> dict | None:
        length = int(np.random.randint(self.lengths[0], self.lengths[1] + 1))
        n = length - 1
        if record.get("instmove_synthetic"):
            rng = np.random.default_rng(np.random.randint(2**31))
            masks, frame = sample_sequence(rng, self.size, n, band_prob=self.band_prob), None
            band_prob = 0.0  # the generator already occluded the inputs
        else:
            sample = self._sample_real(record, length)
            if sample is None:
                return None
            masks, frame = sample
            band_prob = self.band_prob
        flip = self.random_flip and np.random.rand() < 0.5
        if flip:
            masks = masks[..., ::-1]
        for j in range(n):
            if band_prob and np.random.rand() < band_prob:
                masks[j] = occlude(masks[j], np.random.default_rng(np.random.randint(2**31)), masks.shape[-1])
            elif self.drop_prob and j < n - 1 and np.random.rand() < self.drop_prob:
                masks[j] = False
        padded = pad_masks(torch.from_numpy(np.ascontiguousarray(masks)), self.size)
        out = {"past": padded[:n], "target": padded[n], "n": n}
        if self.with_image and frame is not None:
            img = read_frame(record, frame, self.image_format).astype(np.float32)
            if flip:
                img = img[:, ::-1]
            img = (img - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
            out["image"] = pad_image(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None], self.size)[0]
        return out
