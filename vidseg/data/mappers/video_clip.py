"""``VideoClipMapper``: a video record -> one training clip of ``INPUT.CLIP.NUM_FRAMES`` frames."""
from __future__ import annotations

from typing import Callable

from detectron2.config import CfgNode, configurable

from vidseg.registry import MAPPER_REGISTRY

from ..transforms import ClipAugmentation
from .common import annotated_frames, map_clip, record_name, require_keys, sample_clip_indices

RECORD_KEYS = ("file_names", "height", "width", "annotations")


@MAPPER_REGISTRY.register()
class VideoClipMapper:
    """Training clips for VIS-style models (Mask2Former-VIS recipe).

    Sampling: a reference frame uniformly among the annotated frames (``annotations[t] is not None``), then
    ``num_frames - 1`` other annotated frames within ``±sampling_range`` (sorted unless ``sampling_shuffle``).
    One geometric augmentation is drawn for the clip and applied to every frame. The clip's K objects are the
    union of the non-crowd ids of the sampled frames (order of first appearance); every frame's ``Instances``
    holds all K: ``gt_ids`` (-1 where absent or cropped out), ``gt_classes``, ``gt_masks`` (K×H×W),
    ``gt_boxes`` (from the transformed masks, zeros where absent).

    Output: {image: list[T] uint8 3×H×W, instances: list[T] Instances, frame_idx, video_id, height, width,
    length, dataset_name, file_names} (+ whatever ``target_generator`` adds), or ``None`` for a clip without
    any object when ``skip_empty``.
    """

    @configurable
    def __init__(
        self,
        *,
        augmentation: ClipAugmentation,
        image_format: str,
        num_frames: int,
        sampling_range: int,
        sampling_shuffle: bool = False,
        skip_empty: bool = False,
        max_objects: int = 0,
        target_generator: Callable[[dict], dict] | None = None,
    ) -> None:
        """
        Args:
            augmentation: the clip augmentation (drawn once per clip).
            image_format: detectron2 ``INPUT.FORMAT`` of the frames.
            num_frames: frames per clip (>= 1).
            sampling_range: max ``|t - t_ref|`` of the sampled frames.
            sampling_shuffle: shuffle the frame order instead of sorting by time.
            skip_empty: return ``None`` (the loader then draws another record) for a clip without objects.
            max_objects: keep at most this many objects (random subset; 0 = all).
            target_generator: optional callable applied to the finished clip dict (e.g. instance-flow targets);
                it returns the dict to emit.
        """
        if num_frames < 1:
            raise ValueError(f"INPUT.CLIP.NUM_FRAMES must be >= 1, got {num_frames}")
        self.augmentation = augmentation
        self.image_format = image_format
        self.num_frames = int(num_frames)
        self.sampling_range = int(sampling_range)
        self.sampling_shuffle = bool(sampling_shuffle)
        self.skip_empty = bool(skip_empty)
        self.max_objects = int(max_objects)
        self.target_generator = target_generator

    @classmethod
    def clip_config(cls, cfg: CfgNode) -> dict:
        """The clip-sampling arguments shared with the subclasses."""
        return {
            "augmentation": ClipAugmentation(cfg, is_train=True),
            "image_format": cfg.INPUT.FORMAT,
            "num_frames": cfg.INPUT.CLIP.NUM_FRAMES,
            "sampling_range": cfg.INPUT.CLIP.SAMPLING_RANGE,
            "sampling_shuffle": cfg.INPUT.CLIP.SAMPLING_SHUFFLE,
            "skip_empty": cfg.INPUT.CLIP.SKIP_EMPTY,
            "max_objects": cfg.INPUT.CLIP.MAX_OBJECTS,
        }

    @classmethod
    def from_config(
        cls, cfg: CfgNode, is_train: bool = True, target_generator: Callable[[dict], dict] | None = None
    ) -> dict:
        if not is_train:
            raise ValueError(
                f"INPUT.MAPPER.TEST={cls.__name__!r}: {cls.__name__} builds training clips only; "
                "use VideoTestMapper (or VOSClipMapper / FlowFrameMapper) for testing"
            )
        return {**cls.clip_config(cfg), "target_generator": target_generator}

    def sample_frames(self, record: dict) -> list[int]:
        """The clip's frame indices into ``record['file_names']`` (see the class docstring)."""
        candidates = annotated_frames(record)
        if not candidates:
            raise ValueError(f"{type(self).__name__}: {record_name(record)} has no annotated frame")
        return sample_clip_indices(
            candidates,
            num_frames=self.num_frames,
            sampling_range=self.sampling_range,
            shuffle=self.sampling_shuffle,
        )

    def __call__(self, record: dict) -> dict | None:
        require_keys(record, RECORD_KEYS, type(self).__name__)
        clip, _ = map_clip(
            record,
            self.sample_frames(record),
            augmentation=self.augmentation,
            image_format=self.image_format,
            max_objects=self.max_objects,
        )
        if self.skip_empty and not any(bool((inst.gt_ids >= 0).any()) for inst in clip["instances"]):
            return None
        return self.target_generator(clip) if self.target_generator is not None else clip
