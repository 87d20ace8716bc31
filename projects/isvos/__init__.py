"""ISVOS (paper 004): instance-aware memory VOS.

Importing appends :func:`add_isvos_config` to ``vidseg.config.CONFIG_HOOKS``.
"""
from vidseg.config import register_config_hook

from .config import add_isvos_config

register_config_hook(add_isvos_config)

__all__ = ["add_isvos_config"]
