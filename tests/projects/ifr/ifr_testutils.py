"""Helpers of the IFR tests: contract-following clip dicts and models built from ``configs/tests``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances

from projects.ifr import IFR
from vidseg.config import load_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "tests"


def make_clip(*, t: int = 2, h: int = 64, w: int = 64, seed: int = 0, num_objects: int = 2) -> dict:
    """A clip following the model-input contract: coloured squares moving right on noise (object k = class k)."""
    rng = np.random.default_rng(seed)
    images, instances = [], []
    for f in range(t):
        img = rng.integers(0, 60, size=(3, h, w), dtype=np.uint8)
        masks = np.zeros((num_objects, h, w), bool)
        for k in range(num_objects):
            y0, x0 = 8 + 24 * k, 6 + 3 * f + 20 * k
            masks[k, y0 : y0 + 16, x0 : x0 + 16] = True
            img[:, masks[k]] = np.array([[230], [60 + 150 * k], [40]], np.uint8)
        inst = Instances((h, w))
        inst.gt_ids = torch.arange(1, num_objects + 1)
        inst.gt_classes = torch.arange(num_objects) % 3
        inst.gt_masks = BitMasks(torch.from_numpy(masks))
        inst.gt_boxes = inst.gt_masks.get_bounding_boxes() if num_objects else Boxes(torch.zeros(0, 4))
        images.append(torch.from_numpy(img))
        instances.append(inst)
    return {"image": images, "instances": instances, "video_id": seed, "height": h, "width": w, "frame_idx": list(range(t))}


def as_video(clip: dict, *, height: int | None = None, width: int | None = None) -> dict:
    out = {k: v for k, v in clip.items() if k != "instances"}
    out.update(height=height or clip["height"], width=width or clip["width"])
    return out


def build(config: str = "ifr.yaml", *opts: str, seed: int = 0) -> IFR:
    torch.manual_seed(seed)
    return build_model(load_config(str(CONFIGS / config), list(opts)))
