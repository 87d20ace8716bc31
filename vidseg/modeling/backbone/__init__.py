"""Backbones shared by the methods. ResNet comes from detectron2 (``build_resnet_backbone``); importing this
package registers ``D2SwinTransformer`` in detectron2's ``BACKBONE_REGISTRY``."""
from .swin import SWIN_VARIANTS, D2SwinTransformer, SwinSpec

__all__ = ["SWIN_VARIANTS", "D2SwinTransformer", "SwinSpec"]
