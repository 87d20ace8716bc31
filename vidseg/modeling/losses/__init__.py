"""Set-prediction losses: point-sampled BCE / dice, focal and CE classification, ``VideoSetCriterion``."""
from .criterion import MONITOR_KEYS, VideoSetCriterion
from .functional import (
    dice_per_mask,
    pairwise_dice,
    pairwise_sigmoid_ce,
    sigmoid_ce_per_mask,
    sigmoid_focal_loss,
)
from .points import logit_uncertainty, point_sample, sample_uncertain_points

__all__ = [
    "MONITOR_KEYS",
    "VideoSetCriterion",
    "dice_per_mask",
    "logit_uncertainty",
    "pairwise_dice",
    "pairwise_sigmoid_ce",
    "point_sample",
    "sample_uncertain_points",
    "sigmoid_ce_per_mask",
    "sigmoid_focal_loss",
]
