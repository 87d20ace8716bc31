"""Shared helpers of the moseg tests: tiny configs, models and hand-made inputs."""
from __future__ import annotations

from pathlib import Path

import torch
from detectron2.structures import BitMasks, Boxes, Instances

from vidseg.config import load_config
from vidseg.engine import VideoTrainer

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "configs"


def tiny_cfg(stage: str = "joint", *opts):
    """The frozen cfg of ``configs/tests/moseg_<stage>.yaml`` with ``opts`` (key, value, ...) applied."""
    cfg = load_config(str(CONFIGS / "tests" / f"moseg_{stage}.yaml"), list(opts))
    cfg.freeze()
    return cfg


def tiny_model(stage: str = "joint", *opts, seed: int = 0):
    torch.manual_seed(seed)
    return VideoTrainer.build_model(tiny_cfg(stage, *opts))


def square_masks(h: int, w: int, boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
    """K×H×W bool masks filled on each XYXY box."""
    m = torch.zeros(len(boxes), h, w, dtype=torch.bool)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        m[k, y0:y1, x0:x1] = True
    return m


def clip(h: int = 64, w: int = 96, boxes=((10, 10, 30, 34), (50, 20, 80, 50)), classes=None, seed: int = 0,
         with_flow: bool = True) -> dict:
    """A one-frame training clip (FlowFrameMapper layout) with random image/flow and box-shaped objects."""
    g = torch.Generator().manual_seed(seed)
    masks = square_masks(h, w, list(boxes))
    inst = Instances((h, w))
    inst.gt_ids = torch.arange(1, len(boxes) + 1)
    inst.gt_classes = torch.tensor(classes if classes is not None else [0] * len(boxes), dtype=torch.long)
    inst.gt_masks = BitMasks(masks)
    inst.gt_boxes = inst.gt_masks.get_bounding_boxes() if len(boxes) else Boxes(torch.zeros(0, 4))
    flow = torch.rand(3, h, w, generator=g) * torch.tensor([0.0, 6.0, 255.0]).view(3, 1, 1)
    return {
        "image": [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)],
        "instances": [inst],
        "flow_image": [flow if with_flow else None],
        "video_id": f"clip{seed}",
        "frame_idx": [0],
        "height": h,
        "width": w,
    }


def video(t: int = 3, h: int = 64, w: int = 96, seed: int = 0) -> dict:
    """A whole-video test input: T random frames, flow encodings for all but the last frame."""
    g = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for _ in range(t)]
    flows = [torch.rand(3, h, w, generator=g) * torch.tensor([0.0, 6.0, 255.0]).view(3, 1, 1) for _ in range(t - 1)]
    return {"image": images, "flow_image": flows + [None], "height": h, "width": w, "frame_idx": list(range(t)),
            "video_id": "v"}
