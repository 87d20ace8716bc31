"""``MOTSClipMapper`` (``INPUT.MAPPER.TRAIN "MOTSClipMapper"``, the ``mots_clip`` mapper): training clips of MOTS
records (KITTI-MOTS and the synthetic MOTS sets) with their ignore regions honoured.

KITTI-MOTS marks unannotated objects (far, heavily occluded, other classes) as ignore regions (object id 10000,
class 10; the loader merges them into ``record["ignore"][t]``). The MOTS metrics do not count predictions inside
them, so training must not teach the detector that they are background either. Decision: the ignore pixels are
**masked out of the image** — set to ``MODEL.PIXEL_MEAN`` (0 after the model's normalisation) after the clip's
augmentation — so no anchor, proposal or mask pixel there carries evidence of an object or of background, and no
host needs a special loss. The transformed ignore masks are also emitted (``ignore``: T bool tensors H'×W') for
hosts that prefer to drop anchors / proposals inside them from the RPN / ROI losses instead. Ground-truth objects
are left as they are (in KITTI-MOTS they never overlap an ignore region).
"""
from __future__ import annotations

import numpy as np
import torch
from detectron2.config import CfgNode, configurable

from vidseg.registry import MAPPER_REGISTRY
from vidseg.structures.masks import decode_mask

from .common import map_clip, record_name, require_keys
from .video_clip import RECORD_KEYS, VideoClipMapper


@MAPPER_REGISTRY.register()
class MOTSClipMapper(VideoClipMapper):
    """``VideoClipMapper`` + ignore regions: masked to ``fill`` in the images and emitted as ``ignore``."""

    @configurable
    def __init__(self, *, fill: tuple[float, float, float], **kwargs) -> None:
        """
        Args:
            fill: pixel value per channel (in ``image_format`` order) written over the ignore regions.
            kwargs: the ``VideoClipMapper`` arguments.
        """
        super().__init__(**kwargs)
        if len(fill) != 3:
            raise ValueError(f"MODEL.PIXEL_MEAN: MOTSClipMapper needs 3 channel means, got {list(fill)}")
        self.fill = torch.tensor([int(round(float(v))) for v in fill], dtype=torch.uint8).view(3, 1)

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True, target_generator=None) -> dict:
        ret = super().from_config(cfg, is_train, target_generator)
        ret["fill"] = tuple(cfg.MODEL.PIXEL_MEAN)
        return ret

    def __call__(self, record: dict) -> dict | None:
        require_keys(record, RECORD_KEYS, type(self).__name__)
        indices = self.sample_frames(record)
        clip, tfm = map_clip(record, indices, augmentation=self.augmentation, image_format=self.image_format,
                             max_objects=self.max_objects)
        ignore = record.get("ignore") or [None] * len(record["file_names"])
        if len(ignore) != len(record["file_names"]):
            raise ValueError(f"MOTSClipMapper: {record_name(record)} has {len(ignore)} ignore entries for "
                             f"{len(record['file_names'])} frames (expected one per frame)")
        masks = []
        for t, image in zip(indices, clip["image"]):
            region = torch.zeros(image.shape[1:], dtype=torch.bool)
            if ignore[t] is not None:
                region = torch.from_numpy(np.ascontiguousarray(tfm.apply_segmentation(decode_mask(ignore[t])))
                                          .astype(bool))
                image[:, region] = self.fill  # in place: the tensor was created by this call
            masks.append(region)
        clip["ignore"] = masks
        if self.skip_empty and not any(bool((inst.gt_ids >= 0).any()) for inst in clip["instances"]):
            return None
        return self.target_generator(clip) if self.target_generator is not None else clip
