"""Key converters for ImageNet backbone checkpoints: Swin (Microsoft / timm / Mask2Former layouts) and ResNet
(torchvision / timm layout, or detectron2 names without the model prefix).

All functions are pure renames (plus dropping classification heads and derived buffers): values are untouched,
except ``fit_relative_position_tables``, which interpolates Swin bias tables to the model's window size.
"""
from __future__ import annotations

import logging
import re
from typing import Mapping

import torch

__all__ = [
    "is_swin_state_dict",
    "swin_to_vidseg",
    "fit_relative_position_tables",
    "is_torchvision_resnet",
    "torchvision_resnet_to_d2",
    "is_d2_resnet",
]

logger = logging.getLogger(__name__)

_SWIN_DERIVED = ("relative_position_index", "attn_mask")  # buffers rebuilt by the model, never loaded
_OLD_DOWNSAMPLE = re.compile(r"^layers\.(\d+)\.downsample\.")
_OUT_NORM = re.compile(r"^norm(\d)\.")


def is_swin_state_dict(state: Mapping[str, object]) -> bool:
    """Keys of a Swin trunk relative to the backbone: ``patch_embed.proj.weight`` and ``layers.i.blocks...``."""
    return "patch_embed.proj.weight" in state and any(k.startswith("layers.0.blocks.") for k in state)


def swin_to_vidseg(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Swin keys (relative to the backbone) -> ``D2SwinTransformer`` keys (``trunk.*``, ``out_norms.res{k}.*``).

    Accepts the original Microsoft layout (patch merging at the *end* of stage i: ``layers.i.downsample``), the
    Mask2Former D2 layout (the same plus per-output ``norm0..norm3``) and timm's (merging at the *start* of stage
    i+1). The concatenation order of the 2×2 patches is the same in all three, so weights are copied as they are.
    Dropped: classifier ``head.*``, the final classification ``norm.*`` and derived buffers. A dict already in
    vidseg layout (``trunk.*``) is returned unchanged.
    """
    if any(k.startswith("trunk.") for k in state):
        return dict(state)
    old_layout = "layers.0.downsample.reduction.weight" in state
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if k.endswith(_SWIN_DERIVED) or k.startswith(("head.", "norm.")):
            continue
        m = _OUT_NORM.match(k)
        if m:
            out[f"out_norms.res{int(m.group(1)) + 2}.{k[m.end():]}"] = v
            continue
        if old_layout:
            k = _OLD_DOWNSAMPLE.sub(lambda mm: f"layers.{int(mm.group(1)) + 1}.downsample.", k)
        out["trunk." + k] = v
    return out


def fit_relative_position_tables(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
                                 ) -> dict[str, torch.Tensor]:
    """Interpolate every ``*relative_position_bias_table`` of ``state`` whose shape differs from ``target``'s
    ((2W-1)^2 × heads, e.g. a window-7 ImageNet-224 checkpoint into a window-12 model)."""
    from timm.layers import resize_rel_pos_bias_table

    out = dict(state)
    for k, v in state.items():
        if not k.endswith("relative_position_bias_table") or k not in target or v.shape == target[k].shape:
            continue
        side = int(round((target[k].shape[0]) ** 0.5))
        window = (side + 1) // 2
        if side * side != target[k].shape[0] or v.shape[1] != target[k].shape[1]:
            raise ValueError(f"{k}: cannot resize a relative position table {tuple(v.shape)} to "
                             f"{tuple(target[k].shape)}")
        out[k] = resize_rel_pos_bias_table(v.float(), new_window_size=(window, window),
                                           new_bias_shape=tuple(target[k].shape)).to(v.dtype)
        logger.info("%s: relative position table resized %s -> %s", k, tuple(v.shape), tuple(target[k].shape))
    return out


def is_torchvision_resnet(state: Mapping[str, object]) -> bool:
    """torchvision / timm ResNet names: ``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``."""
    return "conv1.weight" in state and "bn1.weight" in state and any(k.startswith("layer1.0.") for k in state)


def is_d2_resnet(state: Mapping[str, object]) -> bool:
    """detectron2 ResNet names without a model prefix: ``stem.conv1.weight``, ``res2.0.conv1.weight``."""
    return "stem.conv1.weight" in state and any(k.startswith("res2.0.") for k in state)


_TV_LAYER = re.compile(r"^layer(\d)\.")
_TV_BN = re.compile(r"(^|\.)bn(\d)\.")


def torchvision_resnet_to_d2(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision/timm ResNet keys -> detectron2 ``ResNet`` keys (relative to the backbone).

    ``conv1``/``bn1`` -> ``stem.conv1``/``stem.conv1.norm``; ``layerN`` -> ``res{N+1}``; ``bnK`` -> ``convK.norm``;
    ``downsample.0``/``downsample.1`` -> ``shortcut``/``shortcut.norm``. The classifier ``fc.*`` and
    ``num_batches_tracked`` are dropped. torchvision puts the stride in the 3×3 conv: use
    ``MODEL.RESNETS.STRIDE_IN_1X1: False`` and RGB pixel statistics with these weights.
    """
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if k.startswith("fc.") or k.endswith("num_batches_tracked"):
            continue
        if _TV_LAYER.match(k):
            k = _TV_LAYER.sub(lambda m: f"res{int(m.group(1)) + 1}.", k)
        else:
            k = "stem." + k
        k = k.replace(".downsample.0.", ".shortcut.").replace(".downsample.1.", ".shortcut.norm.")
        k = _TV_BN.sub(lambda m: f"{m.group(1)}conv{m.group(2)}.norm.", k)
        out[k] = v
    return out
