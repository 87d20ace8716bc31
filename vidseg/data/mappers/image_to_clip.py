"""``ImageToClipMapper``: a COCO-style image record -> a pseudo video clip (SeqFormer/IDOL-style)."""
from __future__ import annotations

from detectron2.config import CfgNode, configurable
from detectron2.data import transforms as T

from vidseg.data.io.image import read_image
from vidseg.registry import MAPPER_REGISTRY

from ..transforms import ClipAugmentation, RandomAffine
from .common import drop_invisible, frame_instances, image_to_tensor, require_keys


@MAPPER_REGISTRY.register()
class ImageToClipMapper:
    """Turn one still image into a clip of ``num_frames`` frames.

    Each frame is the image under its own small random affine warp (``frame_augmentation``, drawn independently
    per frame: scale, rotation, shift), then the clip augmentation (resize/crop/flip) drawn ONCE for the clip
    is applied to every frame. Object k is the k-th non-crowd annotation; its id is its index in the record's
    ``annotations`` list. ``gt_ids`` is -1 where a warp pushes the object out of the frame.

    Input: detectron2 image record {file_name, height, width, image_id, annotations: [{category_id
    (contiguous), segmentation (polygons or RLE), iscrowd, ...}]}.
    Output: as :class:`VideoClipMapper` (image: list[T] uint8 3×H×W, instances: list[T] Instances with the
    same K objects), with frame_idx = [0] * T and file_names = [file_name] * T; ``None`` for an image without
    objects when ``skip_empty``.
    """

    @configurable
    def __init__(
        self,
        *,
        augmentation: ClipAugmentation,
        frame_augmentation: T.Augmentation,
        image_format: str,
        num_frames: int,
        skip_empty: bool = False,
    ) -> None:
        """
        Args:
            augmentation: clip augmentation, drawn once per clip.
            frame_augmentation: drawn independently for every frame (must keep the image size).
            image_format: detectron2 ``INPUT.FORMAT``.
            num_frames: frames per pseudo clip.
            skip_empty: return ``None`` when no non-crowd object is visible in any frame.
        """
        if num_frames < 1:
            raise ValueError(f"INPUT.CLIP.NUM_FRAMES must be >= 1, got {num_frames}")
        self.augmentation = augmentation
        self.frame_augmentation = frame_augmentation
        self.image_format = image_format
        self.num_frames = int(num_frames)
        self.skip_empty = bool(skip_empty)

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        if not is_train:
            raise ValueError(
                f"INPUT.MAPPER.TEST={cls.__name__!r}: {cls.__name__} builds training pseudo clips only"
            )
        return {
            "augmentation": ClipAugmentation(cfg, is_train=True),
            "frame_augmentation": RandomAffine(
                scale_range=tuple(cfg.INPUT.CLIP.PSEUDO_SCALE),
                max_rotation=cfg.INPUT.CLIP.PSEUDO_ROTATION,
                max_translation=cfg.INPUT.CLIP.PSEUDO_TRANSLATION,
            ),
            "image_format": cfg.INPUT.FORMAT,
            "num_frames": cfg.INPUT.CLIP.NUM_FRAMES,
            "skip_empty": cfg.INPUT.CLIP.SKIP_EMPTY,
        }

    def __call__(self, record: dict) -> dict | None:
        require_keys(record, ("file_name", "annotations"), type(self).__name__)
        path = record["file_name"]
        image = read_image(path, self.image_format)
        h, w = image.shape[:2]
        if (record.get("height", h), record.get("width", w)) != (h, w):
            raise ValueError(f"{path}: image is {w}x{h} but the record says {record['width']}x{record['height']}")
        annos = [{**a, "id": i} for i, a in enumerate(record["annotations"]) if not a.get("iscrowd", 0)]
        ids, classes = [a["id"] for a in annos], [int(a["category_id"]) for a in annos]

        frame_tfms = [self.frame_augmentation.get_transform(image) for _ in range(self.num_frames)]
        warped = [tfm.apply_image(image) for tfm in frame_tfms]
        clip_tfm = self.augmentation.draw(warped[0])
        images, instances = [], []
        for frame_tfm, frame in zip(frame_tfms, warped):
            full = T.TransformList([frame_tfm, clip_tfm])
            out = clip_tfm.apply_image(frame)
            images.append(image_to_tensor(out))
            instances.append(
                frame_instances(
                    annos,
                    object_ids=ids,
                    object_classes=classes,
                    transforms=full,
                    src_size=(h, w),
                    out_size=out.shape[:2],
                    where=path,
                )
            )
        instances = drop_invisible(instances)
        if self.skip_empty and len(instances[0]) == 0:
            return None
        return {
            "image": images,
            "instances": instances,
            "frame_idx": [0] * self.num_frames,
            "video_id": record.get("image_id"),
            "height": h,
            "width": w,
            "length": 1,
            "file_names": [path] * self.num_frames,
            "dataset_name": record.get("dataset_name"),
        }
