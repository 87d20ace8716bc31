"""DeepLabV3+-style decoders and heads (method spec §2.4-2.6; Panoptic-DeepLab layout).

A :class:`DeepLabDecoder` is ASPP on res5 (s16) + 1×1 projections of res3 (s8) and res2 (s4) + two fuse blocks.
It is split in two steps, :meth:`compact` (the per-frame s16/s8 features a reference frame contributes; cached in
the inference memory) and :meth:`fuse`, so that the inter-frame decoder can put TCF between them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.layers import ASPP, Conv2d, DepthwiseSeparableConv2d, get_norm
from torch import nn


def _conv(cin: int, cout: int, k: int, norm: str) -> Conv2d:
    conv = Conv2d(cin, cout, k, padding=k // 2, bias=not norm, norm=get_norm(norm, cout), activation=F.relu)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def _dsconv(cin: int, cout: int, norm: str) -> DepthwiseSeparableConv2d:
    return DepthwiseSeparableConv2d(cin, cout, kernel_size=5, padding=2, norm1=norm, activation1=F.relu,
                                    norm2=norm, activation2=F.relu)


def _predictor(cin: int, cout: int) -> Conv2d:
    conv = Conv2d(cin, cout, 1)
    nn.init.normal_(conv.weight, 0, 0.001)
    nn.init.zeros_(conv.bias)
    return conv


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class DeepLabDecoder(nn.Module):
    """ASPP(res5) -> fuse with proj(res3) at s8 -> fuse with proj(res2) at s4; outputs (s16, s8, s4) features."""

    def __init__(self, in_channels: dict[str, int], *, aspp_channels: int, aspp_dilations: list[int],
                 aspp_dropout: float, project_channels: list[int], convs_dim: int, norm: str) -> None:
        super().__init__()
        self.aspp = ASPP(in_channels["res5"], aspp_channels, list(aspp_dilations), norm=norm, activation=F.relu,
                         dropout=aspp_dropout)
        self.proj2 = _conv(in_channels["res2"], project_channels[0], 1, norm)
        self.proj3 = _conv(in_channels["res3"], project_channels[1], 1, norm)
        self.fuse8 = _dsconv(project_channels[1] + aspp_channels, convs_dim, norm)
        self.fuse4 = _dsconv(project_channels[0] + convs_dim, convs_dim, norm)
        self.compact_channels = (aspp_channels, project_channels[1])

    def compact(self, feats: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ASPP output at s16, res3 projection at s8)."""
        return self.aspp(feats["res5"]), self.proj3(feats["res3"])

    def fuse(self, a16: torch.Tensor, q8: torch.Tensor, res2: torch.Tensor) -> list[torch.Tensor]:
        """``res2`` may have batch 1 for a batch of (target, reference) pairs of one target: projected once."""
        y8 = self.fuse8(torch.cat([q8, _up(a16, q8)], 1))
        p2 = self.proj2(res2).expand(y8.shape[0], -1, -1, -1)
        y4 = self.fuse4(torch.cat([p2, _up(y8, p2)], 1))
        return [a16, y8, y4]

    def forward(self, feats: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return self.fuse(*self.compact(feats), feats["res2"])


class SemanticHead(nn.Module):
    """Multi-level semantic prediction (spec §2.4, A7): 1×1 conv on each decoder level, upsample to s4, sum; then
    the PD head (5×5 dsconv) and a 1×1 predictor. ``multi_level=False``: PD's head on the s4 output only."""

    def __init__(self, level_channels: list[int], convs_dim: int, head_channels: int, num_classes: int, norm: str,
                 multi_level: bool = True) -> None:
        super().__init__()
        self.multi_level = multi_level
        self.lateral = nn.ModuleList(_conv(c, convs_dim, 1, norm) for c in level_channels) if multi_level else None
        self.head = _dsconv(convs_dim, head_channels, norm)
        self.predictor = _predictor(head_channels, num_classes)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        if self.multi_level:
            x = sum(_up(conv(f), levels[-1]) for conv, f in zip(self.lateral, levels))
        else:
            x = levels[-1]
        return self.predictor(self.head(x))


class CenterHead(nn.Module):
    """Two 3×3 convs (dim -> dim -> head) and a 1×1 predictor to 1 channel (raw heatmap, no activation)."""

    def __init__(self, dim: int, head_channels: int, norm: str) -> None:
        super().__init__()
        self.convs = nn.Sequential(_conv(dim, dim, 3, norm), _conv(dim, head_channels, 3, norm))
        self.predictor = _predictor(head_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor(self.convs(x))


class OffsetHead(nn.Module):
    """5×5 dsconv (dim -> head) and a 1×1 predictor to (dy, dx), in stride-4 pixel units."""

    def __init__(self, dim: int, head_channels: int, norm: str) -> None:
        super().__init__()
        self.conv = _dsconv(dim, head_channels, norm)
        self.predictor = _predictor(head_channels, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor(self.conv(x))
