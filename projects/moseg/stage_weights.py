"""Assembling the two-stream model from single-stream stage checkpoints (paper 001).

- appearance checkpoint (stage A): appearance backbone (``backbone.*``) and every head (``proposal_generator.*``,
  ``roi_heads.*``); also the static branch (its RPN and box head/predictor);
- motion checkpoint (stage B): only its backbone (``motion_backbone.*`` or, from a single-stream model,
  ``backbone.*``) becomes the motion stream;
- the fusion adaptor is never loaded (fresh PyTorch init).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from vidseg.checkpoint import CheckpointError

__all__ = ["read_state_dict", "assemble_stage_weights", "load_stage_weights", "is_two_stream_checkpoint"]

logger = logging.getLogger(__name__)
HEAD_PREFIXES = ("proposal_generator.", "roi_heads.")
STATIC_PREFIXES = {
    "proposal_generator.": "static_branch.proposal_generator.",
    "roi_heads.box_head.": "static_branch.roi_heads.box_head.",
    "roi_heads.box_predictor.": "static_branch.roi_heads.box_predictor.",
}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local checkpoint (a detectron2 ``.pth`` with a ``model`` entry, or a bare state dict)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: stage checkpoint not found (MODEL.MOSEG.*_WEIGHTS must be local files; "
                              "evaluating a trained joint model needs only MODEL.WEIGHTS)")
    data = torch.load(p, map_location="cpu", weights_only=False)
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{p}: expected a state dict or a dict with a 'model' state dict, got "
                              f"{type(data).__name__}")
    return {k: torch.as_tensor(v) for k, v in state.items()}


def is_two_stream_checkpoint(path: str) -> bool:
    """Whether ``path`` (``MODEL.WEIGHTS``) is a local ``.pth`` of a complete two-stream model (motion stream and
    fusion included): then it is the whole model and no stage checkpoint is needed."""
    p = Path(path) if path else None
    if p is None or p.suffix not in (".pth", ".pt") or not p.is_file():
        return False
    try:
        data = torch.load(p, map_location="cpu", weights_only=False, mmap=True)
    except Exception:  # not a zip checkpoint (e.g. a pickled ImageNet backbone): not a joint model
        return False
    state = data.get("model", data) if isinstance(data, dict) else {}
    keys = list(state) if isinstance(state, dict) else []
    return any(k.startswith("motion_backbone.") for k in keys) and any(k.startswith("fusion.") for k in keys)


def _with_prefix(state: dict[str, torch.Tensor], old: str, new: str) -> dict[str, torch.Tensor]:
    return {new + k[len(old):]: v for k, v in state.items() if k.startswith(old)}


def assemble_stage_weights(
    *,
    appearance: dict[str, torch.Tensor] | None = None,
    motion: dict[str, torch.Tensor] | None = None,
    static: dict[str, torch.Tensor] | None = None,
    motion_prefix: str = "motion_backbone.",
) -> dict[str, torch.Tensor]:
    """The two-stream state dict built from stage checkpoints (any may be ``None``).

    Args:
        appearance: state of the appearance (objectness) model: backbone and heads.
        motion: state of the motion model: its backbone only.
        static: state whose RPN / box head initialise ``static_branch.*`` (usually the appearance one).
        motion_prefix: module prefix of the motion stream in the target model (``backbone.`` for a motion-only
            model).
    """
    out: dict[str, torch.Tensor] = {}
    if appearance is not None:
        for prefix in ("backbone.",) + HEAD_PREFIXES:
            out.update(_with_prefix(appearance, prefix, prefix))
    if motion is not None:
        source = "motion_backbone." if any(k.startswith("motion_backbone.") for k in motion) else "backbone."
        out.update(_with_prefix(motion, source, motion_prefix))
    if static is not None:
        for old, new in STATIC_PREFIXES.items():
            out.update(_with_prefix(static, old, new))
    return out


def load_stage_weights(
    model: nn.Module, *, appearance_weights: str = "", motion_weights: str = "", static_weights: str = "",
    motion_prefix: str = "motion_backbone.",
) -> list[str]:
    """Load the assembled stage weights into ``model`` (keys it lacks are ignored); returns the loaded keys.

    Raises ``ValueError`` naming the files when a loaded tensor's shape differs from the model's.
    """
    if not (appearance_weights or motion_weights or static_weights):
        return []
    app = read_state_dict(appearance_weights) if appearance_weights else None
    static = read_state_dict(static_weights) if static_weights else None
    state = assemble_stage_weights(
        appearance=app,
        motion=read_state_dict(motion_weights) if motion_weights else None,
        static=static if static is not None else app,
        motion_prefix=motion_prefix,
    )
    own = model.state_dict()
    loadable = {k: v for k, v in state.items() if k in own}
    bad = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in loadable.items() if v.shape != own[k].shape]
    if bad:
        files = ", ".join(f for f in (appearance_weights, motion_weights, static_weights) if f)
        raise ValueError(f"stage checkpoints {files}: shape mismatch for {len(bad)} tensors, e.g. {bad[0]}")
    model.load_state_dict(loadable, strict=False)
    logger.info("moseg: loaded %d tensors from stage checkpoints (%d offered keys unused by this model)",
                len(loadable), len(state) - len(loadable))
    return sorted(loadable)
