"""Clip-consistent augmentation (drawn once per clip) and the pseudo-clip affine warp."""
from .affine import AffineTransform, RandomAffine
from .clip_augmentation import ClipAugmentation, apply_flow, build_clip_augmentations

__all__ = ["AffineTransform", "RandomAffine", "ClipAugmentation", "apply_flow", "build_clip_augmentations"]
