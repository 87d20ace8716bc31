"""``ISVOSClipMapper``: ``VOSClipMapper`` with XMem's frame sampler (spec §3.4; ``sampling.sample_vos_frames``)."""
from __future__ import annotations

import numpy as np
from detectron2.config import CfgNode, configurable

from vidseg.data.mappers import VOSClipMapper
from vidseg.registry import MAPPER_REGISTRY

from .sampling import sample_vos_frames


@MAPPER_REGISTRY.register()
class ISVOSClipMapper(VOSClipMapper):
    """Training clips of ``INPUT.CLIP.NUM_FRAMES`` frames drawn by :func:`sample_vos_frames` over the annotated
    frames (``MODEL.ISVOS.TRAIN.MAX_JUMP`` // ``YTVOS_SKIP_DIVISOR``); test videos as ``VOSClipMapper``."""

    @configurable
    def __init__(self, *, max_jump: int = 5, skip_divisor: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_jump = int(max_jump)
        self.skip_divisor = int(skip_divisor)

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True, target_generator=None) -> dict:
        args = super().from_config(cfg, is_train, target_generator)
        t = cfg.MODEL.ISVOS.TRAIN
        return {**args, "max_jump": t.MAX_JUMP, "skip_divisor": t.YTVOS_SKIP_DIVISOR}

    def sample_frames(self, record: dict) -> list[int]:
        frames = [t for t, a in enumerate(record["annotations"]) if a is not None]
        if len(frames) < self.num_frames:
            return super().sample_frames(record)
        idx = sample_vos_frames(len(frames), self.num_frames, self.max_jump, skip_divisor=self.skip_divisor,
                                rng=np.random.default_rng(np.random.randint(2**31)))
        return [frames[i] for i in idx]
