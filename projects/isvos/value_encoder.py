"""Value encoder of ISVOS (paper 004 §3.2, spec §2.4; STCN/XMem ``ValueEncoder`` layout).

Per object k: [image, m_k, Σ_{j≠k} m_j] (5 channels) -> ResNet-18 up to layer3 (1/16, 256 ch) -> concat with
F_res4 -> fusion block g = ResBlock(C -> C_v); V = ResBlock(C_v -> C_v)(g + CBAM(g)). ``tiny`` replaces the
ResNet-18 by 4 strided convs (tests / CPU configs).
"""
from __future__ import annotations

import os

import torch
from torch import nn
from torch.nn import functional as F

from .config import VALUE_ENCODERS


class ResBlock(nn.Module):
    """out = conv3×3(relu(conv3×3(relu(x)))) + skip(x); skip is a 3×3 conv when the widths differ (STCN)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_dim, out_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(out_dim, out_dim, 3, padding=1)
        self.downsample = nn.Conv2d(in_dim, out_dim, 3, padding=1) if in_dim != out_dim else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv2(F.relu(self.conv1(F.relu(x))))
        return r + (self.downsample(x) if self.downsample is not None else x)


class CBAM(nn.Module):
    """Channel gate (shared MLP over avg- and max-pooled features) then spatial gate (7×7 conv on [max, mean])."""

    def __init__(self, dim: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(dim // reduction, 1)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.mlp(x.mean((-2, -1))) + self.mlp(x.amax((-2, -1)))
        x = x * gate.sigmoid()[:, :, None, None]
        s = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
        return x * self.spatial(s).sigmoid()


def _resnet18_trunk(weights: str) -> tuple[nn.Module, int]:
    """torchvision ResNet-18 conv1..layer3 with a 5-channel first conv (extra channels zero-initialised)."""
    from torchvision.models import resnet18

    net = resnet18()
    if weights:
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"MODEL.ISVOS.VALUE_ENCODER.WEIGHTS: {weights} does not exist")
        net.load_state_dict(torch.load(weights, map_location="cpu"), strict=False)
    w = net.conv1.weight.data
    conv1 = nn.Conv2d(5, 64, 7, stride=2, padding=3, bias=False)
    conv1.weight.data.zero_()
    conv1.weight.data[:, :3] = w
    trunk = nn.Sequential(conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3)
    return trunk, 256


def _tiny_trunk(dim: int) -> tuple[nn.Module, int]:
    layers, c = [], 5
    for out in (dim // 4, dim // 2, dim, dim):
        layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        c = out
    return nn.Sequential(*layers), dim


class ValueEncoder(nn.Module):
    """(image, K object probabilities, F_res4) -> memory values (B, K, C_v, h, w)."""

    def __init__(self, *, name: str, feature_dim: int, value_dim: int, weights: str = "", tiny_dim: int = 32) -> None:
        super().__init__()
        if name not in VALUE_ENCODERS:
            raise ValueError(f"MODEL.ISVOS.VALUE_ENCODER.NAME: expected one of {VALUE_ENCODERS}, got {name!r}")
        self.trunk, trunk_dim = _resnet18_trunk(weights) if name == "resnet18" else _tiny_trunk(tiny_dim)
        self.block1 = ResBlock(trunk_dim + feature_dim, value_dim)
        self.attention = CBAM(value_dim)
        self.block2 = ResBlock(value_dim, value_dim)

    def forward(self, image: torch.Tensor, probs: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        """
        Args:
            image: (B, 3, H, W) normalised, padded frame; probs: (B, K, H, W) object probabilities;
            feature: F_res4 (B, C, H/16, W/16).
        """
        b, k = probs.shape[:2]
        others = probs.sum(1, keepdim=True) - probs
        x = torch.cat([image[:, None].expand(-1, k, -1, -1, -1), probs[:, :, None], others[:, :, None]], 2)
        g = self.trunk(x.flatten(0, 1))
        f = feature[:, None].expand(-1, k, -1, -1, -1).flatten(0, 1)
        if g.shape[-2:] != f.shape[-2:]:
            raise ValueError(f"ValueEncoder: trunk output {tuple(g.shape[-2:])} != F_res4 {tuple(f.shape[-2:])}")
        g = self.block1(torch.cat([g, f], 1))
        v = self.block2(g + self.attention(g))
        return v.view(b, k, *v.shape[1:])
