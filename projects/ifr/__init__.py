"""IFR (paper 003): consistent video instance segmentation with inter-frame recurrent attention.

Importing this package registers the ``IFR`` meta-architecture and appends ``add_ifr_config`` to
``vidseg.config.CONFIG_HOOKS``.
"""
from vidseg.config import register_config_hook

from .config import add_ifr_config
from .ifr_decoder import IFRLayer, IFRTransformerDecoder
from .m2f_decoder import VideoMaskedTransformerDecoder
from .meta_arch import IFR

register_config_hook(add_ifr_config)

__all__ = ["IFR", "IFRLayer", "IFRTransformerDecoder", "VideoMaskedTransformerDecoder", "add_ifr_config"]
