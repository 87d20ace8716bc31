"""Every vidseg registry. Meta-architectures use detectron2's ``META_ARCH_REGISTRY``.

Each registry documents the call signature its members must accept.
"""
from detectron2.utils.registry import Registry

MAPPER_REGISTRY = Registry("MAPPER")
MAPPER_REGISTRY.__doc__ = """Dataset mappers: ``cls(cfg, is_train: bool)`` -> callable(video_record: dict) -> dict | None.

Train mappers return one model-input dict per sampled clip; test mappers one dict per whole video
(ARCHITECTURE.md §5). Selected by ``INPUT.MAPPER.{TRAIN,TEST}`` or ``DATASETS.TRAIN_MAPPERS``.
"""

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = """Dataset evaluators: ``cls(dataset_name: str, output_dir: str | None = None, *,
distributed: bool = True)`` -> detectron2 ``DatasetEvaluator`` reading ``output["video_instances"]``.

Selected by the dataset metadata ``evaluator_type`` or overridden by ``TEST.EVALUATORS``.
"""

TRACKER_REGISTRY = Registry("TRACKER")
TRACKER_REGISTRY.__doc__ = """Offline/online trackers: ``cls(**kwargs)`` built by ``build_tracker(cfg)``;
``tracker(frames: list[FrameDetections]) -> VideoInstances``.
"""

PIXEL_DECODER_REGISTRY = Registry("PIXEL_DECODER")
PIXEL_DECODER_REGISTRY.__doc__ = """Pixel decoders of Mask2Former-style models: ``cls(cfg, input_shape: dict[str, ShapeSpec])``.

``decoder.forward_features(features: dict[str, Tensor]) -> (mask_features, multi_scale_features)``:
``mask_features`` B×MASK_DIM×H/4×W/4 and a list of 3 maps B×CONV_DIM×Hl×Wl ordered low -> high resolution
(res5, res4, res3). Selected by ``MODEL.PIXEL_DECODER.NAME``; built by
``vidseg.modeling.pixel_decoder.build_pixel_decoder``.
"""
