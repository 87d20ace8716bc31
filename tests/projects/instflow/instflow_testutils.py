"""Tiny instflow config / model / synthetic pair batches for the tests."""
from __future__ import annotations

import os

import torch
from detectron2.modeling import build_model

from vidseg.config import get_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def tiny_cfg(*opts):
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(ROOT, "configs", "tests", "instflow.yaml"))
    cfg.merge_from_list(list(opts))
    return cfg


def tiny_model(cfg, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(cfg)


def pair_batch(cfg, n: int = 2, seed: int = 0) -> list[dict]:
    """``n`` pair clips of the tiny synthetic VIS set through the real mapper."""
    import numpy as np
    from detectron2.data import DatasetCatalog

    from vidseg.registry import MAPPER_REGISTRY

    np.random.seed(seed)
    mapper = MAPPER_REGISTRY.get("InstFlowPairMapper")(cfg, True)
    records = DatasetCatalog.get(cfg.DATASETS.TRAIN[0])
    return [mapper(records[i % len(records)]) for i in range(n)]
