"""Checks of a merged config made before anything is built or written (issue 15): each failure is one
``ConfigError`` line naming the key and what was expected."""
from __future__ import annotations

import os

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog

from . import ConfigError

__all__ = ["validate_config", "check_output_dir"]

CHECKPOINT_NAMES = ("model_final.pth", "last_checkpoint")


def _known(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(sorted(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def validate_config(cfg: CfgNode, *, training: bool) -> None:
    """Dataset names registered, positive iteration / batch counts (the latter only when ``training``)."""
    registered = DatasetCatalog.list()
    keys = ("TRAIN", "TEST") if training else ("TEST",)
    for key in keys:
        for name in cfg.DATASETS.get(key, ()):
            if name not in registered:
                raise ConfigError(f"DATASETS.{key}: {name!r} is not a registered dataset (known: "
                                  f"{_known(registered)})")
    if not training:
        return
    if not cfg.DATASETS.TRAIN:
        raise ConfigError("DATASETS.TRAIN: empty (expected at least one registered dataset name)")
    for key in ("MAX_ITER", "IMS_PER_BATCH", "CHECKPOINT_PERIOD"):
        value = cfg.SOLVER.get(key)
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"SOLVER.{key}={value}: expected a positive integer")
    if not cfg.SOLVER.BASE_LR >= 0:
        raise ConfigError(f"SOLVER.BASE_LR={cfg.SOLVER.BASE_LR}: expected a non-negative number")


def check_output_dir(path: str, *, training: bool, resume: bool, overwrite: bool) -> None:
    """OUTPUT_DIR must be a writable folder (created if missing); training without ``--resume``/``--overwrite``
    must not replace the checkpoints of an earlier run."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"OUTPUT_DIR={path}: is a file (expected a folder to write checkpoints and results to)")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write_test{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"OUTPUT_DIR={path}: not writable ({e.strerror or e}; expected a writable folder)") from None
    if training and not resume and not overwrite:
        found = [n for n in CHECKPOINT_NAMES if os.path.exists(os.path.join(path, n))]
        if found:
            raise ConfigError(f"OUTPUT_DIR={path}: already holds {found[0]} of an earlier run (expected --resume to "
                              "continue it, --overwrite to train from scratch over it, or another OUTPUT_DIR)")
