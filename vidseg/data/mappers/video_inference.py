"""``VideoTestMapper``: a video record -> the whole video, resized for inference, without annotations."""
from __future__ import annotations

from detectron2.config import CfgNode, configurable

from vidseg.registry import MAPPER_REGISTRY

from ..transforms import ClipAugmentation
from .common import map_video, require_keys


@MAPPER_REGISTRY.register()
class VideoTestMapper:
    """All T frames resized with ``ResizeShortestEdge(INPUT.MIN_SIZE_TEST, INPUT.MAX_SIZE_TEST)``.

    Output: {image: list[T] uint8 3×H'×W', frame_idx: [0..T-1], video_id, height, width (original size, for
    the output masks), length, file_names, dataset_name}.
    """

    @configurable
    def __init__(self, *, augmentation: ClipAugmentation, image_format: str) -> None:
        """
        Args:
            augmentation: the test-time resize (drawn once per video).
            image_format: detectron2 ``INPUT.FORMAT`` of the frames.
        """
        self.augmentation = augmentation
        self.image_format = image_format

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = False) -> dict:
        return {"augmentation": ClipAugmentation(cfg, is_train=is_train), "image_format": cfg.INPUT.FORMAT}

    def __call__(self, record: dict) -> dict:
        require_keys(record, ("file_names", "height", "width"), type(self).__name__)
        video, _ = map_video(record, augmentation=self.augmentation, image_format=self.image_format)
        return video
