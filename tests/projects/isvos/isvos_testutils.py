"""Helpers of the ISVOS tests: tiny models from ``configs/tests/isvos.yaml`` and synthetic square clips."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Instances

from vidseg.config import load_config

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "tests" / "isvos.yaml"


def tiny_cfg(*opts: str):
    return load_config(str(CONFIG), list(opts))


def tiny_model(*opts: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(tiny_cfg(*opts))


def square_clip(*, t: int = 3, h: int = 64, w: int = 64, k: int = 2, seed: int = 0) -> dict:
    """Coloured squares moving right on a noise background (object j = class 0, id j + 1)."""
    rng = np.random.default_rng(seed)
    images, instances = [], []
    for f in range(t):
        img = rng.integers(0, 60, size=(3, h, w), dtype=np.uint8)
        masks = np.zeros((k, h, w), bool)
        for j in range(k):
            y0, x0 = 4 + (h // 2 - 4) * (j % 2), 4 + 2 * f + 10 * j
            masks[j, y0: y0 + h // 4, x0: x0 + w // 4] = True
            img[:, masks[j]] = np.array([[230], [60 + 80 * j], [40 + 60 * (j % 2)]], np.uint8)
        inst = Instances((h, w))
        inst.gt_ids = torch.arange(1, k + 1)
        inst.gt_classes = torch.zeros(k, dtype=torch.long)
        inst.gt_masks = BitMasks(torch.from_numpy(masks))
        images.append(torch.from_numpy(img))
        instances.append(inst)
    return {"image": images, "instances": instances, "video_id": seed, "height": h, "width": w,
            "frame_idx": list(range(t))}


def as_video(clip: dict) -> dict:
    """Whole-video test dict with the first frame's masks as ``vos_init``."""
    out = {k: v for k, v in clip.items() if k != "instances"}
    out["vos_init"] = {0: clip["instances"][0]}
    return out
