"""``BasePixelDecoder``: a plain top-down FPN pixel decoder (Mask2Former's ``BasePixelDecoder``)."""
from __future__ import annotations

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import CfgNode, configurable
from detectron2.layers import Conv2d, ShapeSpec
from torch import nn
from torch.nn import functional as F

from vidseg.registry import PIXEL_DECODER_REGISTRY

from .common import check_in_features, make_norm

__all__ = ["BasePixelDecoder"]


@PIXEL_DECODER_REGISTRY.register()
class BasePixelDecoder(nn.Module):
    """Top-down FPN over the input features (e.g. res2..res5).

    The coarsest map gets a 3×3 conv; every finer one a 1×1 lateral conv plus the nearest-upsampled coarser
    output, then a 3×3 conv (normed, ReLU). The three coarsest outputs are the multi-scale features; a 3×3 conv
    of the finest output gives the mask features.
    """

    @configurable
    def __init__(self, *, input_shape: dict[str, ShapeSpec], conv_dim: int = 256, mask_dim: int = 256,
                 norm: str = "GN") -> None:
        """
        Args:
            input_shape: the backbone features to use (>= 3), with channels and strides.
            conv_dim / mask_dim: width of the FPN maps / of the mask features.
            norm: normalisation of the convs ("GN", "", or a detectron2 norm name).
        """
        super().__init__()
        check_in_features("MODEL.PIXEL_DECODER.IN_FEATURES", list(input_shape), input_shape, minimum=3)
        shapes = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
        self.in_features = [f for f, _ in shapes]  # fine -> coarse
        use_bias = norm == ""
        self.lateral_convs = nn.ModuleList()  # for every feature but the coarsest, fine -> coarse
        self.output_convs = nn.ModuleList()  # for every feature, fine -> coarse
        for i, (_, spec) in enumerate(shapes):
            coarsest = i == len(shapes) - 1
            if not coarsest:
                lateral = Conv2d(spec.channels, conv_dim, kernel_size=1, bias=use_bias, norm=make_norm(norm, conv_dim))
                weight_init.c2_xavier_fill(lateral)
                self.lateral_convs.append(lateral)
            output = Conv2d(spec.channels if coarsest else conv_dim, conv_dim, kernel_size=3, padding=1,
                            bias=use_bias, norm=make_norm(norm, conv_dim), activation=F.relu)
            weight_init.c2_xavier_fill(output)
            self.output_convs.append(output)
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=3, padding=1)
        weight_init.c2_xavier_fill(self.mask_features)
        self.mask_dim = mask_dim

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict:
        pd = cfg.MODEL.PIXEL_DECODER
        check_in_features("MODEL.PIXEL_DECODER.IN_FEATURES", pd.IN_FEATURES, input_shape, minimum=3)
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in pd.IN_FEATURES},
            "conv_dim": pd.CONV_DIM,
            "mask_dim": pd.MASK_DIM,
            "norm": pd.NORM,
        }

    def forward_features(self, features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """
        Args:
            features: backbone maps {name: (B, C_name, H/s, W/s)}.

        Returns:
            mask_features (B, mask_dim, H/s0, W/s0) at the finest input stride s0, and the three coarsest FPN
            outputs (B, conv_dim, ., .) ordered low -> high resolution.
        """
        multi_scale: list[torch.Tensor] = []
        y = None
        for i in range(len(self.in_features) - 1, -1, -1):
            x = features[self.in_features[i]]
            if y is None:
                y = self.output_convs[i](x)
            else:
                lateral = self.lateral_convs[i](x)
                y = self.output_convs[i](lateral + F.interpolate(y, size=lateral.shape[-2:], mode="nearest"))
            if len(multi_scale) < 3:
                multi_scale.append(y)
        return self.mask_features(y), multi_scale
