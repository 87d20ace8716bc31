"""Reading external checkpoint files (``.pth``/``.pt``/``.bin``, detectron2/Mask2Former ``.pkl``, ``.safetensors``)
into a flat ``{name: tensor}`` dict, unwrapping the usual containers (``model``, ``state_dict``, ``module``)."""
from __future__ import annotations

import logging
import os
import pickle
from typing import Any, Mapping

import numpy as np
import torch

__all__ = ["load_state_dict_file", "unwrap_state_dict", "to_tensors"]

logger = logging.getLogger(__name__)

_CONTAINER_KEYS = ("model", "state_dict", "module", "model_state")


def unwrap_state_dict(obj: Any, *, source: str = "checkpoint") -> dict[str, Any]:
    """Follow ``model``/``state_dict``/``module`` containers down to the dict of arrays/tensors."""
    for _ in range(4):
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in _CONTAINER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not any(isinstance(v, (torch.Tensor, np.ndarray)) for v in obj.values()):
        raise ValueError(f"{source}: expected a state dict (name -> tensor), possibly under 'model' or "
                         f"'state_dict'; found {type(obj).__name__}")
    return dict(obj)


def to_tensors(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """numpy arrays (detectron2 ``.pkl``) -> torch tensors; other non-tensor entries are dropped."""
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            out[k] = torch.from_numpy(np.ascontiguousarray(v))
        elif isinstance(v, torch.Tensor):
            out[k] = v
    return out


def _torch_load(path: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # checkpoints that pickle extra Python objects (argparse namespaces, optimizer configs) need the full
        # unpickler; the file is a local one the user named in the config
        logger.warning("%s holds non-tensor Python objects; loading it with the full unpickler", path)
        return torch.load(path, map_location="cpu", weights_only=False)


def load_state_dict_file(path: str, *, key: str = "MODEL.WEIGHTS") -> dict[str, torch.Tensor]:
    """Read a local checkpoint file into a flat ``{name: tensor}`` dict. ``key`` names the config entry in errors."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key}={path}: file not found (weights are read from local files only)")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        obj: Any = load_file(path, device="cpu")
    elif path.endswith(".pkl"):
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")
    else:
        obj = _torch_load(path)
    return to_tensors(unwrap_state_dict(obj, source=f"{key}={path}"))
