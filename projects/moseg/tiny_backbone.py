"""A small conv-net + FPN backbone for CPU tests and the miniature benchmark (paper 001)."""
from __future__ import annotations

import torch
from detectron2.config import CfgNode
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import BACKBONE_REGISTRY, Backbone, FPN
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from torch import nn

__all__ = ["TinyConvNet", "build_moseg_tiny_fpn_backbone"]


class TinyConvNet(Backbone):
    """Four stages of two 3×3 convs (+ norm + ReLU), each halving the resolution once (the first stage twice):
    ``res2..res5`` at strides 4, 8, 16, 32 with ``channels[i]`` channels."""

    def __init__(
        self, *, in_channels: int = 3, channels: tuple[int, ...] = (16, 32, 64, 128), norm: str = "GN"
    ) -> None:
        """
        Args:
            in_channels: input channels (3 for an image or a flow encoding).
            channels: output channels of res2..res5 (4 values).
            norm: ``GN`` (8 groups, or 1 when the channels are not a multiple of 8), another detectron2 norm
                name, or "" for none.
        """
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"MODEL.MOSEG.TINY_BACKBONE.CHANNELS: expected 4 values (res2..res5), got {channels}")
        self.stages = nn.ModuleList()
        prev = in_channels
        for i, c in enumerate(channels):
            layers = []
            if i == 0:  # stem: stride 2
                layers.append(self._conv(prev, c, 2, norm))
                prev = c
            layers += [self._conv(prev, c, 2, norm), self._conv(c, c, 1, norm)]
            self.stages.append(nn.Sequential(*layers))
            prev = c
        self.names = [f"res{i + 2}" for i in range(4)]
        self._out_features = list(self.names)
        self._out_feature_channels = dict(zip(self.names, channels))
        self._out_feature_strides = {n: 4 * 2**i for i, n in enumerate(self.names)}

    @staticmethod
    def _conv(cin: int, cout: int, stride: int, norm: str) -> nn.Module:
        layer = nn.GroupNorm(8 if cout % 8 == 0 else 1, cout) if norm == "GN" else get_norm(norm, cout)
        return Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not norm, norm=layer,
                      activation=nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """N×C×H×W -> {res2: N×c0×H/4×W/4, ..., res5: N×c3×H/32×W/32}."""
        out = {}
        for name, stage in zip(self.names, self.stages):
            x = stage(x)
            out[name] = x
        return out


@BACKBONE_REGISTRY.register()
def build_moseg_tiny_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> Backbone:
    """``TinyConvNet`` (``MODEL.MOSEG.TINY_BACKBONE.{CHANNELS,NORM}``) + FPN (``MODEL.FPN.*``, P2–P6)."""
    t = cfg.MODEL.MOSEG.TINY_BACKBONE
    bottom_up = TinyConvNet(in_channels=input_shape.channels, channels=tuple(t.CHANNELS), norm=t.NORM)
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
