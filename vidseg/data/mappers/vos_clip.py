"""``VOSClipMapper``: semi-supervised VOS clips (train) and whole videos with first-frame masks (test)."""
from __future__ import annotations

from typing import Callable

import torch
from detectron2.config import CfgNode, configurable
from detectron2.structures import Instances

from vidseg.registry import MAPPER_REGISTRY

from ..transforms import ClipAugmentation
from .common import collect_objects, frame_instances, map_clip, map_video, record_name, require_keys
from .video_clip import RECORD_KEYS, VideoClipMapper


def first_appearances(record: dict) -> dict[int, list]:
    """``{frame: [object ids]}``: each non-crowd object at the first annotated frame where it appears."""
    seen: set = set()
    init: dict[int, list] = {}
    for t, annos in enumerate(record["annotations"]):
        ids, _ = collect_objects([annos], where=f"{record_name(record)}, frame {t}")
        new = [i for i in ids if i not in seen]
        if new:
            init[t] = new
            seen.update(new)
    return init


@MAPPER_REGISTRY.register()
class VOSClipMapper(VideoClipMapper):
    """VOS mapper.

    Train (``is_train``): a clip exactly as :class:`VideoClipMapper` builds it, plus
        ``vos_masks``: bool K×H×W, the first sampled frame's masks of the clip's K objects (zeros for an object
        that appears later in the clip), and
        ``vos_first_frame``: long K, the clip position of each object's first visible frame (its initial mask
        is ``instances[vos_first_frame[k]].gt_masks[k]``).
    Test: the whole video resized for inference (as :class:`VideoTestMapper`) plus
        ``vos_init``: ``{frame index: Instances}`` with the given masks (gt_ids, gt_classes, gt_masks, gt_boxes at
        the resized size) of the objects that start at that frame, from the record's ``vos_init``
        ``{frame: [ids]}`` (or, when absent, each object at its first annotated frame).
    """

    @configurable
    def __init__(self, *, is_train: bool, **clip_args) -> None:
        """
        Args:
            is_train: clip sampling (True) or whole videos with ``vos_init`` (False).
            clip_args: the :class:`VideoClipMapper` arguments (``augmentation`` is the test resize when testing).
        """
        super().__init__(**clip_args)
        self.is_train = bool(is_train)

    @classmethod
    def from_config(
        cls, cfg: CfgNode, is_train: bool = True, target_generator: Callable[[dict], dict] | None = None
    ) -> dict:
        args = cls.clip_config(cfg)
        if not is_train:
            args["augmentation"] = ClipAugmentation(cfg, is_train=False)
        return {**args, "is_train": is_train, "target_generator": target_generator}

    def __call__(self, record: dict) -> dict | None:
        require_keys(record, RECORD_KEYS, type(self).__name__)
        return self._train_clip(record) if self.is_train else self._test_video(record)

    def _train_clip(self, record: dict) -> dict | None:
        clip, _ = map_clip(
            record,
            self.sample_frames(record),
            augmentation=self.augmentation,
            image_format=self.image_format,
            max_objects=self.max_objects,
        )
        present = torch.stack([inst.gt_ids >= 0 for inst in clip["instances"]])  # T×K
        if self.skip_empty and not bool(present[0].any()):
            return None  # nothing to track from the first frame
        clip["vos_masks"] = clip["instances"][0].gt_masks.tensor.clone()
        clip["vos_first_frame"] = present.long().argmax(dim=0)  # every kept object is visible in some frame
        return self.target_generator(clip) if self.target_generator is not None else clip

    def _test_video(self, record: dict) -> dict:
        video, tfm = map_video(record, augmentation=self.augmentation, image_format=self.image_format)
        given = record.get("vos_init")
        init = {int(t): list(ids) for t, ids in given.items()} if given is not None else first_appearances(record)
        src = (int(record["height"]), int(record["width"]))
        out_size = tuple(video["image"][0].shape[1:])
        vos_init: dict[int, Instances] = {}
        for t in sorted(init):
            where = f"{record_name(record)}, vos_init frame {t}"
            if not 0 <= t < len(record["annotations"]) or record["annotations"][t] is None:
                raise ValueError(f"{where}: no annotations at that frame (expected the initial masks there)")
            annos = record["annotations"][t]
            wanted = set(init[t])
            missing = wanted - {a.get("id") for a in annos}
            if missing:
                raise ValueError(f"{where}: objects {sorted(missing)} have no annotation at that frame")
            ids, classes = collect_objects([[a for a in annos if a.get("id") in wanted]], where=where)
            vos_init[t] = frame_instances(
                annos,
                object_ids=ids,
                object_classes=classes,
                transforms=tfm,
                src_size=src,
                out_size=out_size,
                where=where,
            )
        video["vos_init"] = vos_init
        return video
