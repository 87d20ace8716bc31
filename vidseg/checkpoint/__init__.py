"""External checkpoints: readers, key converters (Mask2Former, ImageNet Swin/ResNet) and ``VidsegCheckpointer``."""
from .backbones import (fit_relative_position_tables, is_d2_resnet, is_swin_state_dict, is_torchvision_resnet,
                        swin_to_vidseg, torchvision_resnet_to_d2)
from .checkpointer import CheckpointError, VidsegCheckpointer, convert_to_vidseg, detect_format
from .converters import trunk_prefix  # also registers the mask2former / torchvision / timm converters
from .io import load_state_dict_file, to_tensors, unwrap_state_dict
from .mask2former import TargetLayout, find_layout, is_mask2former_state_dict, mask2former_to_vidseg

__all__ = [
    "CheckpointError",
    "TargetLayout",
    "VidsegCheckpointer",
    "convert_to_vidseg",
    "detect_format",
    "find_layout",
    "fit_relative_position_tables",
    "is_d2_resnet",
    "is_mask2former_state_dict",
    "is_swin_state_dict",
    "is_torchvision_resnet",
    "load_state_dict_file",
    "mask2former_to_vidseg",
    "swin_to_vidseg",
    "to_tensors",
    "torchvision_resnet_to_d2",
    "trunk_prefix",
    "unwrap_state_dict",
]
