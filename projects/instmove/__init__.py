"""InstMove (paper 000): mask-based instance motion predictor, plugged into hosts as a motion prior.

Importing registers the ``InstMovePredictor`` meta-architecture, the ``instmove`` motion prior, the
``MaskSequenceMapper`` and the synthetic training set, and appends :func:`add_instmove_config` to
``vidseg.config.CONFIG_HOOKS``.
"""
from vidseg.config import register_config_hook

from .config import add_instmove_config
from .data import MaskSequenceMapper, register_synthetic
from .meta_arch import InstMovePredictor
from .model import InstMoveNet
from .prior import InstMovePrior

register_config_hook(add_instmove_config)
register_synthetic()

__all__ = ["MaskSequenceMapper", "InstMoveNet", "InstMovePredictor", "InstMovePrior", "add_instmove_config"]
