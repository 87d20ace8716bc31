"""``FlowInput``: the flow a mapper hands to a two-stream model (source + encoding, ``INPUT.FLOW.*``)."""
from __future__ import annotations

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import transforms as T

from .encoding import FlowEncoder
from .estimate import FlowSource
from .io import read_record_flow

__all__ = ["FlowInput"]


class FlowInput:
    """Prepares a video record's flow files (:class:`FlowSource`) and encodes the flow of one frame for the
    motion stream (:class:`FlowEncoder`), following the frame's augmentation."""

    @configurable
    def __init__(self, *, source: FlowSource, encoder: FlowEncoder) -> None:
        self.source = source
        self.encoder = encoder

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        return {"source": FlowSource(cfg), "encoder": FlowEncoder(cfg)}

    def prepare(self, record: dict) -> dict:
        """The record with ``flow_file_names`` from the configured source."""
        return self.source.prepare(record)

    def encoded(
        self, record: dict, t: int, transforms: T.Transform, transformed: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """The 3×H'×W' float32 encoding of the flow from frame ``t`` to ``t + 1`` after ``transforms``, or
        ``None`` without flow (the last frame).

        Args:
            transformed: the field already mapped by ``apply_flow`` (2×H'×W'); reused when the encoder's
                modes (``raw`` resize, ``correct`` flip) make that exact, else the file is read again.
        """
        names = record.get("flow_file_names")
        if names is None or names[t] is None:
            return None
        if transformed is not None and self.encoder.resize_mode == "raw" and self.encoder.flip_mode == "correct":
            return self.encoder.encode_tensor(transformed)
        raw = read_record_flow(record, t)
        enc = self.encoder.encode_transformed(raw, transforms)
        return torch.from_numpy(np.ascontiguousarray(enc.transpose(2, 0, 1)))
