"""``build_tracker(cfg)``: the tracker named by ``MODEL.TRACKER.NAME``."""
from __future__ import annotations

from typing import Callable

from detectron2.config import CfgNode

from vidseg.registry import TRACKER_REGISTRY

__all__ = ["build_tracker"]


def build_tracker(cfg: CfgNode) -> Callable:
    """Instantiate ``TRACKER_REGISTRY[cfg.MODEL.TRACKER.NAME]`` with the kwargs of its ``from_config(cfg)``
    (a tracker without ``from_config`` is built with no arguments)."""
    name = cfg.MODEL.TRACKER.NAME
    if name not in TRACKER_REGISTRY:
        known = sorted(k for k, _ in TRACKER_REGISTRY)
        raise ValueError(f"MODEL.TRACKER.NAME: {name!r} is not a registered tracker; expected one of {known}")
    cls = TRACKER_REGISTRY.get(name)
    from_config = getattr(cls, "from_config", None)
    return cls(**from_config(cfg)) if from_config is not None else cls()
