"""Optimizer with per-module LR multipliers, no weight decay on norms/embeddings, full-model gradient clipping."""
from __future__ import annotations

from typing import Any, Iterable

import torch
from detectron2.config import CfgNode

_NORM_TYPES = (
    torch.nn.modules.batchnorm._BatchNorm,
    torch.nn.GroupNorm,
    torch.nn.LayerNorm,
    torch.nn.LocalResponseNorm,
)


def _is_norm(module: torch.nn.Module) -> bool:
    # detectron2's FrozenBatchNorm2d has no parameters; its NaiveSyncBatchNorm subclasses BatchNorm2d.
    return isinstance(module, _NORM_TYPES) or "norm" in type(module).__name__.lower()


def build_param_groups(
    model: torch.nn.Module,
    *,
    base_lr: float,
    weight_decay: float,
    weight_decay_norm: float,
    weight_decay_embed: float,
    lr_multipliers: Iterable[tuple[str, float]] = (),
) -> list[dict[str, Any]]:
    """One group per trainable parameter (each shared parameter counted once).

    ``lr_multipliers``: (module-name prefix, factor) pairs; the longest matching prefix wins, so
    ``(("backbone", 0.1), ("backbone.pos_embed", 1.0))`` works as expected.
    Norm weights/biases get ``weight_decay_norm``; ``nn.Embedding`` weights and parameters whose name ends in
    ``pos_embed``/``query_embed``/``relative_position_bias_table`` get ``weight_decay_embed``.
    """
    multipliers = sorted(((str(p), float(f)) for p, f in lr_multipliers), key=lambda x: -len(x[0]))
    groups: list[dict[str, Any]] = []
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            full = f"{module_name}.{name}" if module_name else name
            lr = base_lr
            for prefix, factor in multipliers:
                if full == prefix or full.startswith(prefix + "."):
                    lr = base_lr * factor
                    break
            wd = weight_decay
            if _is_norm(module):
                wd = weight_decay_norm
            elif isinstance(module, torch.nn.Embedding) or name.endswith(
                ("pos_embed", "query_embed", "relative_position_bias_table", "absolute_pos_embed")
            ):
                wd = weight_decay_embed
            groups.append({"params": [param], "lr": lr, "weight_decay": wd, "name": full})
    return groups


def _with_full_model_clipping(optim_cls: type[torch.optim.Optimizer], max_norm: float, norm_type: float):
    """Subclass of ``optim_cls`` whose ``step`` first clips the global gradient norm of all its parameters."""

    class FullModelClipped(optim_cls):  # type: ignore[misc, valid-type]
        def step(self, closure=None):
            params = [p for g in self.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
            return super().step(closure=closure)

    FullModelClipped.__name__ = f"FullModelClipped{optim_cls.__name__}"
    return FullModelClipped


def _fusable(model: torch.nn.Module) -> bool:
    """Whether torch's fused AdamW kernel takes every trainable parameter (floating point, on CPU or CUDA, one device
    type)."""
    params = [p for p in model.parameters() if p.requires_grad]
    kinds = {p.device.type for p in params}
    return bool(params) and len(kinds) == 1 and kinds <= {"cpu", "cuda"} and all(p.is_floating_point() for p in params)


def build_optimizer(cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
    """``SOLVER.OPTIMIZER`` (ADAMW | SGD), ``SOLVER.LR_MULTIPLIERS``, ``SOLVER.CLIP_GRADIENTS`` where
    ``CLIP_TYPE`` "full_model" clips the norm over all parameters together (Mask2Former's recipe) and
    "value"/"norm" keep detectron2's per-parameter behaviour."""
    s = cfg.SOLVER
    groups = build_param_groups(
        model,
        base_lr=s.BASE_LR,
        weight_decay=s.WEIGHT_DECAY,
        weight_decay_norm=s.WEIGHT_DECAY_NORM,
        weight_decay_embed=s.WEIGHT_DECAY_EMBED,
        lr_multipliers=s.LR_MULTIPLIERS,
    )
    name = s.OPTIMIZER.upper()
    if name == "ADAMW":
        optim_cls, kwargs = torch.optim.AdamW, {"lr": s.BASE_LR}
        if s.FUSED and _fusable(model):
            kwargs["fused"] = True
    elif name == "SGD":
        optim_cls, kwargs = torch.optim.SGD, {"lr": s.BASE_LR, "momentum": s.MOMENTUM, "nesterov": s.NESTEROV}
    else:
        raise ValueError(f"SOLVER.OPTIMIZER: expected 'ADAMW' or 'SGD', got {s.OPTIMIZER!r}")
    clip = s.CLIP_GRADIENTS
    if clip.ENABLED and clip.CLIP_TYPE == "full_model":
        optim_cls = _with_full_model_clipping(optim_cls, clip.CLIP_VALUE, clip.NORM_TYPE)
        return optim_cls(groups, **kwargs)
    from detectron2.solver.build import maybe_add_gradient_clipping

    return maybe_add_gradient_clipping(cfg, optim_cls)(groups, **kwargs)
