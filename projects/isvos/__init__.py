"""ISVOS (paper 004): instance-aware memory VOS.

Importing appends :func:`add_isvos_config` to ``vidseg.config.CONFIG_HOOKS`` and registers the ``ISVOS``
meta-architecture and the ``ISVOSClipMapper``.
"""
from vidseg.config import register_config_hook

from .config import add_isvos_config
from .mapper import ISVOSClipMapper
from .meta_arch import ISVOS
from .network import ISVOSNetwork

register_config_hook(add_isvos_config)

__all__ = ["ISVOS", "ISVOSClipMapper", "ISVOSNetwork", "add_isvos_config"]
