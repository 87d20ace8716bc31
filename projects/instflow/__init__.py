"""Instance Flow Assembly (paper 002): bottom-up VIS with temporal context fusion.

Importing registers the ``InstanceFlowVIS`` meta-architecture, the ``build_resnet_deeplab_backbone`` backbone, the
``InstFlowPairMapper`` mapper and the ``InstanceFlowTracker`` tracker, and appends :func:`add_instflow_config` to
``vidseg.config.CONFIG_HOOKS``.
"""
from vidseg.config import register_config_hook

from .backbone import build_resnet_deeplab_backbone
from .config import add_instflow_config
from .meta_arch import InstanceFlowVIS
from .targets import InstFlowPairMapper
from .tracker import FlowDetections, InstanceFlowTracker

register_config_hook(add_instflow_config)

__all__ = ["FlowDetections", "InstFlowPairMapper", "InstanceFlowTracker", "InstanceFlowVIS", "add_instflow_config",
           "build_resnet_deeplab_backbone"]
