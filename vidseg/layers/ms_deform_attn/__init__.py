"""Multi-scale deformable attention (Deformable DETR): op (``torch.library``), module and dispatcher.

``ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights, impl=None)``
runs the CUDA kernel for CUDA tensors and the C++ kernel for CPU tensors when the ``MultiScaleDeformableAttention``
extension is built (both registered as the ``torch.library`` op ``vidseg::ms_deform_attn``, so models using it
compile and export), else the ``grid_sample`` reference; ``VIDSEG_MSDA_IMPL=auto|cuda|cpu|pytorch`` (or ``impl=``)
forces one. ``python -m vidseg.layers.ms_deform_attn.check`` reports what is available and why.
"""
from .dispatch import EXT_AVAILABLE, EXT_REASON, impl_status, select_impl
from .function import ms_deform_attn, ms_deform_attn_backward_op, ms_deform_attn_op
from .module import MSDeformAttn
from .reference import ms_deform_attn_reference

__all__ = [
    "EXT_AVAILABLE",
    "EXT_REASON",
    "MSDeformAttn",
    "impl_status",
    "ms_deform_attn",
    "ms_deform_attn_backward_op",
    "ms_deform_attn_op",
    "ms_deform_attn_reference",
    "select_impl",
]
