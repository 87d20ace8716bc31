"""``VidsegCheckpointer``: detectron2's ``DetectionCheckpointer`` that recognises external checkpoint layouts
(Mask2Former models, ImageNet Swin / ResNet backbones) and renames them to the model's own keys before loading.

Used for ``MODEL.WEIGHTS`` by ``VideoTrainer`` and ``train_net.py --eval-only``. vidseg's own checkpoints and
formats it does not recognise (e.g. detectron2 / Caffe2 model-zoo files) load exactly as with detectron2.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from torch import nn

from .backbones import (fit_relative_position_tables, is_d2_resnet, is_swin_state_dict, is_torchvision_resnet,
                        swin_to_vidseg, torchvision_resnet_to_d2)
from .io import load_state_dict_file, to_tensors
from .converters import trunk_prefix
from .mask2former import find_layout, is_mask2former_state_dict, mask2former_to_vidseg

__all__ = ["VidsegCheckpointer", "convert_to_vidseg", "detect_format"]

logger = logging.getLogger(__name__)

FORMATS = ("vidseg", "mask2former", "swin", "torchvision_resnet", "d2_resnet", "unknown")


def detect_format(state: Mapping[str, Any], model_keys: set[str]) -> str:
    """One of ``FORMATS`` for a flat state dict, given the keys of the model it is loaded into."""
    if is_mask2former_state_dict(state):
        return "mask2former"
    if state and len(model_keys.intersection(state)) >= 0.5 * len(state):
        return "vidseg"
    if is_swin_state_dict(state):
        return "swin"
    if is_torchvision_resnet(state):
        return "torchvision_resnet"
    if is_d2_resnet(state):
        return "d2_resnet"
    return "unknown"


def convert_to_vidseg(state: Mapping[str, Any], model: nn.Module) -> tuple[str, dict[str, Any]]:
    """(format, state dict renamed to ``model``'s keys). ``vidseg``/``unknown`` dicts come back unchanged."""
    own = model.state_dict()
    fmt = detect_format(state, set(own))
    if fmt in ("vidseg", "unknown"):
        return fmt, dict(state)
    state = to_tensors(state)
    trunk = trunk_prefix(model)  # the backbone, or its bottom_up network under an FPN
    if fmt == "mask2former":
        out = mask2former_to_vidseg(state, find_layout(model))
    elif fmt == "swin":
        out = {trunk + k: v for k, v in swin_to_vidseg(state).items()}
    elif fmt == "torchvision_resnet":
        out = {trunk + k: v for k, v in torchvision_resnet_to_d2(state).items()}
    else:  # d2_resnet: detectron2 names without the model prefix (e.g. detectron2's torchvision R-50.pkl, whose
        # converter turned the classifier into ``stem.fc.*``)
        out = {trunk + k: v for k, v in state.items() if not k.startswith("stem.fc.")}
    return fmt, fit_relative_position_tables(out, own)


class VidsegCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` + layout conversion of external checkpoints (see ``convert_to_vidseg``).

    ``.safetensors`` files are read too. A converted checkpoint is loaded by exact names (no detectron2 matching
    heuristics); shape mismatches (e.g. a class head of another dataset) are skipped and reported by detectron2.
    """

    def _load_file(self, filename: str) -> dict[str, Any]:
        if filename.endswith(".safetensors"):
            loaded: dict[str, Any] = {"model": load_state_dict_file(filename)}
        else:
            loaded = super()._load_file(filename)
        state = loaded.get("model")
        if not isinstance(state, Mapping) or not any(isinstance(v, (torch.Tensor, np.ndarray)) for v in state.values()):
            return loaded
        fmt, converted = convert_to_vidseg(state, self.model)
        if fmt in ("vidseg", "unknown"):
            return loaded
        logger.info("%s: %s checkpoint converted to vidseg names (%d tensors)", filename, fmt, len(converted))
        loaded = {k: v for k, v in loaded.items() if k != "matching_heuristics"}
        loaded["model"] = converted
        loaded["__author__"] = f"vidseg-converted-{fmt}"
        return loaded
