"""InstMove (paper 000): mask-based instance motion predictor, plugged into hosts as a motion prior.

Importing appends :func:`add_instmove_config` to ``vidseg.config.CONFIG_HOOKS``.
"""
from vidseg.config import register_config_hook

from .config import add_instmove_config

register_config_hook(add_instmove_config)

__all__ = ["add_instmove_config"]
