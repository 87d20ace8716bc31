"""Mask2Former checkpoints (COCO instance ``model_final_*.pkl``, YouTube-VIS video models) -> vidseg key names.

Mask2Former's model is ``backbone`` + ``sem_seg_head.{pixel_decoder, predictor}`` + ``criterion`` (buffers only).
vidseg's Mask2Former-style models hold the same parts under their own attribute paths (``TargetLayout``, found
on the model by ``find_layout``). Renames:

- ``backbone.*``: ResNet keys are detectron2's already; Swin keys go through ``swin_to_vidseg``.
- ``sem_seg_head.pixel_decoder.*``: ``transformer.level_embed`` -> ``encoder.level_embed``,
  ``transformer.encoder.layers.*`` -> ``encoder.layers.*``, ``adapter_k`` -> ``lateral_convs.{k-1}``,
  ``layer_k`` -> ``output_convs.{k-1}``; the rest (``input_proj``, ``mask_features``) is unchanged.
- ``sem_seg_head.predictor.*``: unchanged below the predictor (``query_feat``, ``query_embed``, ``level_embed``,
  ``decoder_norm``, ``class_embed``, ``mask_embed``, ``transformer_{self,cross}_attention_layers``,
  ``transformer_ffn_layers``), so modules named differently (IFR's layers) stay at their random init.
- ``criterion.*`` (the derived no-object weight buffer) is dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from .backbones import is_swin_state_dict, swin_to_vidseg

__all__ = ["TargetLayout", "find_layout", "is_mask2former_state_dict", "mask2former_to_vidseg",
           "rename_pixel_decoder_key"]

_M2F_PIXEL_DECODER = "sem_seg_head.pixel_decoder."
_M2F_PREDICTOR = "sem_seg_head.predictor."
_M2F_BACKBONE = "backbone."
_ADAPTER = re.compile(r"^adapter_(\d+)\.")
_LAYER = re.compile(r"^layer_(\d+)\.")


@dataclass(frozen=True)
class TargetLayout:
    """Attribute paths (with trailing dot) of the backbone, pixel decoder and query decoder in a vidseg model."""

    backbone: str = "backbone."
    pixel_decoder: str = "pixel_decoder."
    predictor: str = "predictor."


def find_layout(model: nn.Module) -> TargetLayout:
    """Locate the parts in ``model``: the shallowest detectron2 ``Backbone``, the shallowest module registered in
    ``PIXEL_DECODER_REGISTRY`` and the shallowest module with ``query_feat`` and ``class_embed`` (a query decoder).
    Parts not found keep the default paths."""
    from detectron2.modeling import Backbone

    from vidseg.registry import PIXEL_DECODER_REGISTRY

    decoder_types = tuple(cls for _, cls in PIXEL_DECODER_REGISTRY)
    found: dict[str, str] = {}
    for name, module in sorted(model.named_modules(), key=lambda nm: nm[0].count(".")):
        if not name:
            continue
        if "backbone" not in found and isinstance(module, Backbone):
            found["backbone"] = name + "."
        elif "pixel_decoder" not in found and decoder_types and isinstance(module, decoder_types):
            found["pixel_decoder"] = name + "."
        elif "predictor" not in found and hasattr(module, "query_feat") and hasattr(module, "class_embed"):
            found["predictor"] = name + "."
    return TargetLayout(**found)


def is_mask2former_state_dict(state: Mapping[str, object]) -> bool:
    return any(k.startswith(("sem_seg_head.pixel_decoder.", "sem_seg_head.predictor.")) for k in state)


def rename_pixel_decoder_key(key: str) -> str:
    """A key below Mask2Former's ``pixel_decoder`` -> the key below ours (see the module docstring)."""
    if key.startswith("transformer.level_embed"):
        return "encoder." + key[len("transformer."):]
    if key.startswith("transformer.encoder.layers."):
        return "encoder." + key[len("transformer.encoder."):]
    m = _ADAPTER.match(key)
    if m:
        return f"lateral_convs.{int(m.group(1)) - 1}.{key[m.end():]}"
    m = _LAYER.match(key)
    if m:
        return f"output_convs.{int(m.group(1)) - 1}.{key[m.end():]}"
    return key


def mask2former_to_vidseg(state: Mapping[str, torch.Tensor], layout: TargetLayout = TargetLayout()
                          ) -> dict[str, torch.Tensor]:
    """Rename a Mask2Former (image or video) state dict to ``layout``. Unknown top-level keys are kept as they are
    (the loader then reports them as unexpected)."""
    backbone = {k[len(_M2F_BACKBONE):]: v for k, v in state.items() if k.startswith(_M2F_BACKBONE)}
    if is_swin_state_dict(backbone):
        backbone = swin_to_vidseg(backbone)
    out = {layout.backbone + k: v for k, v in backbone.items()}
    for k, v in state.items():
        if k.startswith(_M2F_PIXEL_DECODER):
            out[layout.pixel_decoder + rename_pixel_decoder_key(k[len(_M2F_PIXEL_DECODER):])] = v
        elif k.startswith(_M2F_PREDICTOR):
            out[layout.predictor + k[len(_M2F_PREDICTOR):]] = v
        elif not k.startswith((_M2F_BACKBONE, "criterion.")):
            out[k] = v
    return out
