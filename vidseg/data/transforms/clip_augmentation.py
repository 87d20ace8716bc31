"""Clip-consistent augmentation: geometric transforms are drawn ONCE per clip and applied to every frame.

Mask2Former's video mappers keep resize/flip consistent through call counters inside stateful augmentations.
Here the detectron2 :class:`~detectron2.data.transforms.AugmentationList` is run once on the first frame, which
yields a deterministic :class:`~detectron2.data.transforms.TransformList`; that same list is then applied to
every frame, mask and flow field of the clip (:func:`apply_flow` handles the vector components).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from detectron2.config import CfgNode, configurable
from detectron2.data import transforms as T

# Mask2Former spells "drawn once per clip" explicitly; here every draw is per clip, so these are aliases.
_SAMPLING_ALIASES = {"choice_by_clip": "choice", "range_by_clip": "range"}
_FLIP_ALIASES = {"flip_by_clip": "horizontal"}


def _resize_from_cfg(cfg: CfgNode, is_train: bool) -> list[T.Augmentation]:
    if is_train:
        min_size, max_size = cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN
        style = _SAMPLING_ALIASES.get(cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING)
        if style not in ("choice", "range"):
            raise ValueError(
                f"INPUT.MIN_SIZE_TRAIN_SAMPLING={cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING!r}: expected one of "
                f"'choice', 'range', 'choice_by_clip', 'range_by_clip'"
            )
    else:
        min_size, max_size, style = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice"
    sizes = (min_size,) if isinstance(min_size, int) else tuple(min_size)
    if not sizes or all(s <= 0 for s in sizes):  # MIN_SIZE_* = 0 keeps the native resolution
        return []
    return [T.ResizeShortestEdge(sizes, max_size, style)]


def build_clip_augmentations(cfg: CfgNode, is_train: bool) -> list[T.Augmentation]:
    """The detectron2 augmentation list of a clip, in order: resize → (train) crop → (train) flip.

    Train: ``ResizeShortestEdge(INPUT.MIN_SIZE_TRAIN, INPUT.MAX_SIZE_TRAIN, INPUT.MIN_SIZE_TRAIN_SAMPLING)``, then
    ``RandomCrop(INPUT.CROP.TYPE, INPUT.CROP.SIZE)`` if ``INPUT.CLIP.CROP_ENABLED`` (the crop size refers to the
    resized frame, i.e. network-input pixels), then ``RandomFlip`` per ``INPUT.RANDOM_FLIP``.
    Test: ``ResizeShortestEdge(INPUT.MIN_SIZE_TEST, INPUT.MAX_SIZE_TEST)`` only.
    """
    augs = _resize_from_cfg(cfg, is_train)
    if not is_train:
        return augs
    if cfg.INPUT.CLIP.CROP_ENABLED:
        augs.append(T.RandomCrop(cfg.INPUT.CROP.TYPE, tuple(cfg.INPUT.CROP.SIZE)))
    flip = _FLIP_ALIASES.get(cfg.INPUT.RANDOM_FLIP, cfg.INPUT.RANDOM_FLIP)
    if flip not in ("none", "horizontal", "vertical"):
        raise ValueError(
            f"INPUT.RANDOM_FLIP={cfg.INPUT.RANDOM_FLIP!r}: expected 'none', 'horizontal', 'vertical' or 'flip_by_clip'"
        )
    if flip != "none":
        augs.append(T.RandomFlip(horizontal=flip == "horizontal", vertical=flip == "vertical"))
    return augs


class ClipAugmentation:
    """Draws one :class:`TransformList` per clip; the caller applies it to every frame/mask/flow.

    Example::

        tfm = clip_aug.draw(frames[0])
        frames = [tfm.apply_image(f) for f in frames]          # H×W×3 uint8 -> H'×W'×3
        masks = [tfm.apply_segmentation(m) for m in masks]     # H×W uint8 -> H'×W'
        flows = [apply_flow(tfm, f) for f in flows]            # H×W×2 float -> H'×W'×2
    """

    @configurable
    def __init__(self, *, augmentations: Sequence[T.Augmentation | T.Transform]) -> None:
        """
        Args:
            augmentations: detectron2 augmentations, run in order on the first frame of each clip.
        """
        self.augmentations = T.AugmentationList(list(augmentations))

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        return {"augmentations": build_clip_augmentations(cfg, is_train)}

    def draw(self, image: np.ndarray) -> T.TransformList:
        """Sample the clip's transforms from its first frame (H×W×C uint8); uses ``np.random``."""
        return self.augmentations(T.AugInput(image))

    def __repr__(self) -> str:
        return f"ClipAugmentation({self.augmentations})"


def _flatten(transforms: T.Transform) -> list[T.Transform]:
    if isinstance(transforms, T.TransformList):
        return [t for sub in transforms.transforms for t in _flatten(sub)]
    return [transforms]


def apply_flow(transforms: T.Transform, flow: np.ndarray) -> np.ndarray:
    """Apply a geometric transform to an optical-flow field between two frames that both undergo it.

    The field is first warped like a 2-channel float image (bilinear for resizes), then each vector is
    multiplied by the transform's linear part ``A`` (for an affine map ``x' = A x + b`` a displacement ``d``
    becomes ``A d``): a horizontal flip negates ``u``, a resize scales ``u`` by ``new_w / w`` and ``v`` by
    ``new_h / h``, a crop leaves vectors unchanged. Exact for every affine detectron2 transform.

    Args:
        transforms: a detectron2 ``Transform`` or ``TransformList``.
        flow: H×W×2 float array, ``[..., 0]`` = u (x, right), ``[..., 1]`` = v (y, down), in pixels.

    Returns:
        H'×W'×2 float32 array in the transformed frame's pixels.
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"apply_flow: flow must be H×W×2, got shape {flow.shape}")
    for tfm in _flatten(transforms):
        warped = tfm.apply_image(np.ascontiguousarray(flow))
        basis = tfm.apply_coords(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float64))
        col_x, col_y = basis[1] - basis[0], basis[2] - basis[0]  # images of the unit vectors e_x, e_y
        flow = (warped[..., 0:1] * col_x + warped[..., 1:2] * col_y).astype(np.float32)
    return flow
