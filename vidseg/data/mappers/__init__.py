"""Dataset mappers (record -> model input), registered in ``MAPPER_REGISTRY`` under their class names.

Each is built as ``MAPPER_REGISTRY.get(name)(cfg, is_train)`` and selected by ``INPUT.MAPPER.{TRAIN,TEST}`` or
``DATASETS.TRAIN_MAPPERS`` (see :mod:`vidseg.data.build`).
"""
from .flow_frame import FlowFrameMapper
from .image_to_clip import ImageToClipMapper
from .mots_clip import MOTSClipMapper
from .video_clip import VideoClipMapper
from .video_inference import VideoTestMapper
from .vos_clip import VOSClipMapper

__all__ = ["FlowFrameMapper", "ImageToClipMapper", "MOTSClipMapper", "VideoClipMapper", "VideoTestMapper", "VOSClipMapper"]
