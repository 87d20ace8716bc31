"""vidseg models. Importing this package registers its meta-architectures in detectron2's ``META_ARCH_REGISTRY``."""
from . import backbone, pixel_decoder  # noqa: F401  (registers D2SwinTransformer and the pixel decoders)
from .meta_arch import PerFrameMaskRCNN

__all__ = ["PerFrameMaskRCNN"]
