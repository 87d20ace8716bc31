"""Shared transformer pieces of the Mask2Former-style decoders: attention/FFN/MLP layers and sine encodings."""
from .layers import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from .position_encoding import PositionEmbeddingSine, PositionEmbeddingSine3D

__all__ = [
    "MLP",
    "CrossAttentionLayer",
    "FFNLayer",
    "PositionEmbeddingSine",
    "PositionEmbeddingSine3D",
    "SelfAttentionLayer",
]
