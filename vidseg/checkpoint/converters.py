"""The checkpoint converters of ``python -m vidseg.checkpoint.convert`` (``CHECKPOINT_CONVERTER_REGISTRY``):
``mask2former``, ``torchvision`` and ``timm``. Each only renames keys (values untouched)."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from vidseg.registry import CHECKPOINT_CONVERTER_REGISTRY, register_as

from .backbones import is_swin_state_dict, is_torchvision_resnet, swin_to_vidseg, torchvision_resnet_to_d2
from .mask2former import TargetLayout, find_layout, is_mask2former_state_dict, mask2former_to_vidseg

__all__ = ["convert_mask2former", "convert_timm", "convert_torchvision", "trunk_prefix"]


def trunk_prefix(model: nn.Module | None) -> str:
    """Where an ImageNet backbone's keys go in ``model``: its backbone, or the backbone's ``bottom_up`` network
    when the backbone is an FPN (detectron2 ``FPN.bottom_up``, e.g. the per-frame Mask R-CNN baseline)."""
    if model is None:
        return TargetLayout().backbone
    prefix = find_layout(model).backbone
    backbone = model.get_submodule(prefix.rstrip(".")) if prefix.rstrip(".") else model
    return prefix + "bottom_up." if isinstance(getattr(backbone, "bottom_up", None), nn.Module) else prefix


def _layout(model: nn.Module | None) -> TargetLayout:
    return find_layout(model) if model is not None else TargetLayout()


@register_as(CHECKPOINT_CONVERTER_REGISTRY, "mask2former")
def convert_mask2former(state: Mapping[str, torch.Tensor], model: nn.Module | None) -> dict[str, torch.Tensor]:
    """Mask2Former image / video models (``model_final_*.pkl``): ``backbone`` + ``sem_seg_head.*``."""
    if not is_mask2former_state_dict(state):
        raise ValueError("not a Mask2Former checkpoint (no 'sem_seg_head.pixel_decoder.*' / "
                         "'sem_seg_head.predictor.*' keys)")
    return mask2former_to_vidseg(state, _layout(model))


def _resnet(state: Mapping[str, torch.Tensor], model: nn.Module | None, source: str) -> dict[str, torch.Tensor]:
    if not is_torchvision_resnet(state):
        raise ValueError(f"not a {source} ResNet checkpoint (expected conv1.weight, bn1.*, layer1.0.*)")
    prefix = trunk_prefix(model)
    return {prefix + k: v for k, v in torchvision_resnet_to_d2(state).items()}


@register_as(CHECKPOINT_CONVERTER_REGISTRY, "torchvision")
def convert_torchvision(state: Mapping[str, torch.Tensor], model: nn.Module | None) -> dict[str, torch.Tensor]:
    """torchvision ImageNet ResNets (``resnet50-*.pth``); use ``MODEL.RESNETS.STRIDE_IN_1X1 False`` with them."""
    return _resnet(state, model, "torchvision")


@register_as(CHECKPOINT_CONVERTER_REGISTRY, "timm")
def convert_timm(state: Mapping[str, torch.Tensor], model: nn.Module | None) -> dict[str, torch.Tensor]:
    """timm ImageNet Swin (``swin_*_patch4_window*``: merging at the start of a stage, ``head.fc``) or ResNet."""
    if is_swin_state_dict(state):
        prefix = trunk_prefix(model)
        return {prefix + k: v for k, v in swin_to_vidseg(state).items()}
    return _resnet(state, model, "timm")
