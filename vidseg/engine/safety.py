"""Checks that stop a run early and loudly instead of late or silently (issue 15): the class count against the
datasets, and non-finite losses (checked on every rank before backward, so no NaN gradient is ever applied)."""
from __future__ import annotations

import math

import torch
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog

from vidseg.config import ConfigError

__all__ = ["check_num_classes", "install_loss_check", "one_line_divergence"]


def check_num_classes(cfg: CfgNode) -> None:
    """``MODEL.NUM_CLASSES`` must cover the ``thing_classes`` of every train/test dataset that declares them."""
    n = int(cfg.MODEL.NUM_CLASSES)
    for key in ("TRAIN", "TEST"):
        for name in cfg.DATASETS.get(key, ()):
            classes = MetadataCatalog.get(name).get("thing_classes", None)
            if classes is not None and n < len(classes):
                raise ConfigError(f"MODEL.NUM_CLASSES={n}: dataset {name!r} (DATASETS.{key}) has {len(classes)} "
                                  f"thing_classes (expected MODEL.NUM_CLASSES >= {len(classes)})")


def _non_finite_terms(losses: dict) -> list[str]:
    out = []
    for k, v in losses.items():
        value = float(v.detach().float().sum()) if isinstance(v, torch.Tensor) else float(v)
        if not math.isfinite(value):
            out.append(f"{k}={value}")
    return out


def install_loss_check(model: torch.nn.Module, trainer) -> None:
    """Forward hook: in training mode, a loss dict with a NaN/Inf entry raises ``FloatingPointError`` naming the
    iteration of ``trainer`` and every non-finite term."""

    def hook(module, inputs, output):
        if module.training and isinstance(output, dict) and output:
            bad = _non_finite_terms(output)
            if bad:
                raise FloatingPointError(f"iteration {trainer.iter}: loss is NaN/Inf ({', '.join(bad)})")

    model.register_forward_hook(hook)


def one_line_divergence(error: FloatingPointError, iteration: int) -> str:
    """One line naming the iteration and the terms (detectron2's own message spans two lines)."""
    text = " ".join(str(error).split())
    if not text.startswith("iteration "):
        text = f"iteration {iteration}: {text}"
    return f"{text}; training stopped, no checkpoint written after it (last_checkpoint names the last finite one)"
