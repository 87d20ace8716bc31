"""Instance Flow Assembly (paper 002): bottom-up VIS with temporal context fusion.

Importing appends :func:`add_instflow_config` to ``vidseg.config.CONFIG_HOOKS``.
"""
from vidseg.config import register_config_hook

from .config import add_instflow_config

register_config_hook(add_instflow_config)

__all__ = ["add_instflow_config"]
