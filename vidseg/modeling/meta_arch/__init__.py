"""Meta-architectures shared by several methods (registered in detectron2's ``META_ARCH_REGISTRY``)."""
from .per_frame_rcnn import PerFrameMaskRCNN

__all__ = ["PerFrameMaskRCNN"]
