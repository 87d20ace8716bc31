"""What :class:`vidseg.vos.VOSEngine` needs from a model (Cutie's model / inference-core split).

A model that implements these five methods can be driven by the engine; it must not import the engine.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class StreamingVOSModel(Protocol):
    def prepare(self, frame: torch.Tensor) -> torch.Tensor:
        """uint8 3×H×W -> (1, 3, H_pad, W_pad) model input (padding bottom/right only)."""

    def encode_frame(self, image: torch.Tensor) -> dict:
        """(1, 3, H_pad, W_pad) -> per-frame features; must contain ``key`` (1, C_k, h, w)."""

    def segment(self, frame: dict, mem_key: torch.Tensor, mem_value: torch.Tensor) -> dict:
        """Memory (1, C_k, T, h, w) / (1, K, C_v, T, h, w) -> ``probs`` (1, K+1, H_pad, W_pad), background first."""

    def encode_value(self, frame: dict, image: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """Object probabilities (1, K, H_pad, W_pad) -> values (1, K, C_v, h, w)."""

    def aggregate(self, obj_probs: torch.Tensor) -> torch.Tensor:
        """(1, K, H, W) object probabilities -> (1, K+1, H, W) probabilities that sum to 1."""
