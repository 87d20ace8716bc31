"""Reusable layers. ``ms_deform_attn``: multi-scale deformable attention (op + module)."""
from .ms_deform_attn import MSDeformAttn, ms_deform_attn

__all__ = ["MSDeformAttn", "ms_deform_attn"]
