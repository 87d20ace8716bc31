"""Pixel decoders (``PIXEL_DECODER_REGISTRY``): ``MSDeformAttnPixelDecoder`` and the plain-FPN
``BasePixelDecoder``. ``build_pixel_decoder(cfg, input_shape)`` picks ``MODEL.PIXEL_DECODER.NAME``."""
from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from torch import nn

from vidseg.registry import PIXEL_DECODER_REGISTRY

from .fpn import BasePixelDecoder
from .msdeform import MSDeformAttnEncoder, MSDeformAttnEncoderLayer, MSDeformAttnPixelDecoder

__all__ = [
    "BasePixelDecoder",
    "MSDeformAttnEncoder",
    "MSDeformAttnEncoderLayer",
    "MSDeformAttnPixelDecoder",
    "build_pixel_decoder",
]


def build_pixel_decoder(cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> nn.Module:
    """``PIXEL_DECODER_REGISTRY.get(cfg.MODEL.PIXEL_DECODER.NAME)(cfg, input_shape)``."""
    name = cfg.MODEL.PIXEL_DECODER.NAME
    if name not in PIXEL_DECODER_REGISTRY:
        raise ValueError(f"MODEL.PIXEL_DECODER.NAME: expected one of {sorted(PIXEL_DECODER_REGISTRY._obj_map)}, "
                         f"got {name!r}")
    return PIXEL_DECODER_REGISTRY.get(name)(cfg, input_shape)
