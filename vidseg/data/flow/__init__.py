"""Optical flow for two-stream models: file I/O (``.flo`` re-exported from :mod:`vidseg.data.io.flo`, ``.npy``,
``.pfm``), OpenCV estimation with an on-disk cache, the paper-001 angle/magnitude encoding, and ``FlowInput``
(source + encoding) used by :class:`~vidseg.data.mappers.FlowFrameMapper`."""
from .encoding import FLIP_MODES, RESIZE_MODES, FlowEncoder, encode_flow, mirrors_horizontally
from .estimate import (
    DIS_PRESETS,
    FLOW_METHODS,
    FLOW_SOURCES,
    FlowSource,
    attach_flow,
    cached_flow_path,
    ensure_video_flow,
    estimate_flow,
)
from .input import FlowInput
from .io import FLOW_SUFFIXES, read_flo, read_flow_file, read_pfm, write_flo

__all__ = [
    "FLIP_MODES",
    "RESIZE_MODES",
    "FlowEncoder",
    "encode_flow",
    "mirrors_horizontally",
    "DIS_PRESETS",
    "FLOW_METHODS",
    "FLOW_SOURCES",
    "FlowSource",
    "attach_flow",
    "cached_flow_path",
    "ensure_video_flow",
    "estimate_flow",
    "FlowInput",
    "FLOW_SUFFIXES",
    "read_flo",
    "read_flow_file",
    "read_pfm",
    "write_flo",
]
