"""moseg (paper 001): two-stream RGB + optical-flow Mask R-CNN that segments anything that moves.

Importing registers ``TwoStreamMaskRCNN`` (``META_ARCH_REGISTRY``), ``TwoStreamROIHeads`` (``ROI_HEADS_REGISTRY``),
the tiny test backbone (``BACKBONE_REGISTRY``) and the ``coco_2017_train_objectness`` view of detectron2's COCO,
and appends :func:`add_moseg_config` to ``vidseg.config.CONFIG_HOOKS``.
"""
from vidseg.config import register_config_hook

from .config import add_moseg_config
from .datasets import register_coco_objectness
from .fusion import ConcatConvFusion
from .meta_arch import TwoStreamMaskRCNN
from .roi_heads import TwoStreamROIHeads
from .stage_weights import assemble_stage_weights, load_stage_weights
from .static_branch import StaticBranch
from .tiny_backbone import TinyConvNet, build_moseg_tiny_fpn_backbone

register_config_hook(add_moseg_config)
register_coco_objectness()

__all__ = [
    "add_moseg_config",
    "register_coco_objectness",
    "ConcatConvFusion",
    "TwoStreamMaskRCNN",
    "TwoStreamROIHeads",
    "assemble_stage_weights",
    "load_stage_weights",
    "StaticBranch",
    "TinyConvNet",
    "build_moseg_tiny_fpn_backbone",
]
