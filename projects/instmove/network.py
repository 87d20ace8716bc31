"""The InstMove network (paper 000 §3, official checkpoint layout).

Blocks: motion encoders q_φ (context, phase 1) and p_θ (matching, phase 2) over mask *differences*, the motion
memory (a c×l bank addressed per spatial cell by cosine-softmax), mask encoder E_m, ConvLSTM, the SE-style fusion
gate, the optional ResNet-50 image encoder (res2/res3 of frame t) and the mask decoder D_m. Every width is a
``MODEL.INSTMOVE`` key so tests can run a reduced model of the same topology.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MotionEncoder", "MotionMemory", "MaskEncoder", "ConvLSTM", "FusionGate", "MaskDecoder", "ImageEncoder",
           "InstMoveNet"]


class MotionEncoder(nn.Module):
    """Conv3d k3 + ReLU stack with spatial (1,2,2) max-pools after ``pool_after``, then temporal mean.

    Input (B, T, S, S) masks -> differences (B, 1, T−1, S, S) -> (B, C_last, S/16, S/16)."""

    def __init__(self, channels: Sequence[int], pool_after: Sequence[int]) -> None:
        super().__init__()
        ins = [1] + list(channels[:-1])
        self.convs = nn.ModuleList(nn.Conv3d(i, o, 3, padding=1) for i, o in zip(ins, channels))
        self.pool_after = set(int(p) for p in pool_after)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        x = (seq[:, 1:] - seq[:, :-1]).unsqueeze(1)  # (B, 1, T-1, S, S)
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i in self.pool_after:
                x = F.max_pool3d(x, (1, 2, 2), (1, 2, 2))
        return x.mean(dim=2)


class MotionMemory(nn.Module):
    """Bank M (c×l, N(0,1) init); every spatial cell of the encoder map is a query:
    w = softmax_i cos(q, M_i), readout ẑ = Σ w_i M_i (raw rows), then the embedder U (two stride-2 deconvs)."""

    def __init__(self, slots: int, dim: int, encoder_channels: Sequence[int], pool_after: Sequence[int],
                 embedder_channels: Sequence[int]) -> None:
        super().__init__()
        self.context_encoder = MotionEncoder(encoder_channels, pool_after)  # q_φ
        self.matching_encoder = MotionEncoder(encoder_channels, pool_after)  # p_θ
        self.bank = nn.Parameter(torch.randn(slots, dim))
        e1, e2 = embedder_channels
        self.embedder = nn.Sequential(
            nn.ConvTranspose2d(dim, e1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(e1, e2, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        )

    def address(self, z: torch.Tensor, bank: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, l, h, w) -> readout (B, l, h, w), weights (B·h·w, c) in row-major cell order."""
        b, l, h, w = z.shape
        q = z.permute(0, 2, 3, 1).reshape(-1, l)
        weights = F.softmax(F.normalize(q, dim=1) @ F.normalize(bank, dim=1).T, dim=1)
        readout = (weights @ bank).reshape(b, h, w, l).permute(0, 3, 1, 2)
        return readout, weights

    def forward(self, seq: torch.Tensor, phase: int, *, train_bank: bool = True):
        encoder = self.context_encoder if phase == 1 else self.matching_encoder
        bank = self.bank if train_bank else self.bank.detach()
        readout, weights = self.address(encoder(seq), bank)
        return self.embedder(readout), readout, weights


class MaskEncoder(nn.Sequential):
    """E_m: Conv2d k3 ×4 (strides 2, 1, 2, 1), each followed by ELU: (B, 1, S, S) -> (B, C, S/4, S/4)."""

    def __init__(self, channels: Sequence[int]) -> None:
        layers: list[nn.Module] = []
        cin = 1
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(cin, c, 3, stride=2 if i % 2 == 0 else 1, padding=1), nn.ELU()]
            cin = c
        super().__init__(*layers)


class ConvLSTMCell(nn.Module):
    """G = conv_x(x) + conv_h(h) split (i, g, f, o); c' = σ(f)c + σ(i)tanh(g); h' = σ(o)tanh(c')."""

    def __init__(self, cin: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.conv_x = nn.Conv2d(cin, 4 * hidden, kernel, padding=kernel // 2)
        self.conv_h = nn.Conv2d(hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x, h, c):
        i, g, f, o = torch.chunk(self.conv_x(x) + self.conv_h(h), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class ConvLSTM(nn.Module):
    """Stacked cells, zero initial state per call; returns the top cell's (h, c) after the last step."""

    def __init__(self, layers: int, channels: int, kernel: int) -> None:
        super().__init__()
        self.channels = channels
        self.cells = nn.ModuleList(ConvLSTMCell(channels, channels, kernel) for _ in range(layers))

    def forward(self, xs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = xs[0].shape
        zero = xs[0].new_zeros(b, self.channels, h, w)
        hs, cs = [zero] * len(self.cells), [zero] * len(self.cells)
        for x in xs:
            inp = x
            for j, cell in enumerate(self.cells):
                hs[j], cs[j] = cell(inp, hs[j], cs[j])
                inp = hs[j]
        return hs[-1], cs[-1]


class FusionGate(nn.Module):
    """a = σ(W₂ ReLU(W₁ GAP([c ; Û]))) ∈ R^{B×C}: a channel gate on the recalled motion Û."""

    def __init__(self, cin: int, hidden: int, cout: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cin, hidden)
        self.fc2 = nn.Linear(hidden, cout)

    def forward(self, cell: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([cell, motion], dim=1).mean(dim=(2, 3))
        return torch.sigmoid(self.fc2(F.relu(self.fc1(pooled))))


class ResBlock(nn.Module):
    """x + conv2(ReLU(conv1(ReLU(x)))) (``residual``) or ReLU(conv(x)) (``conv``, the reduced test model)."""

    def __init__(self, c: int, kind: str = "residual") -> None:
        super().__init__()
        self.kind = kind
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1) if kind == "residual" else None

    def forward(self, x):
        if self.conv2 is None:
            return F.relu(self.conv1(x))
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class SkipFusion(nn.Module):
    """X + Up2(conv3×3(image feature)), then a block."""

    def __init__(self, skip_c: int | None, c: int, kind: str) -> None:
        super().__init__()
        self.skip = nn.Conv2d(skip_c, c, 3, padding=1) if skip_c else None
        self.block = ResBlock(c, kind)

    def forward(self, x, image_feature=None):
        if self.skip is not None and image_feature is not None:
            x = x + F.interpolate(self.skip(image_feature), scale_factor=2, mode="bilinear", align_corners=False)
        return self.block(x)


class MaskDecoder(nn.Module):
    """D_m: stride-4 fusion (res3) -> deconv s2 -> stride-2 fusion (res2) -> deconv s1, deconv s2, deconv s1 -> 1."""

    def __init__(self, channels: Sequence[int], image_channels: tuple[int, int] | None, block: str) -> None:
        super().__init__()
        c0, c1, c2, c3 = channels
        res2_c, res3_c = image_channels if image_channels else (None, None)
        self.fuse4 = SkipFusion(res3_c, c0, block)
        self.up4 = nn.ConvTranspose2d(c0, c1, 3, stride=2, padding=1, output_padding=1)
        self.fuse2 = SkipFusion(res2_c, c1, block)
        self.head = nn.ModuleList([
            nn.ConvTranspose2d(c1, c2, 3, stride=1, padding=1),
            nn.ConvTranspose2d(c2, c3, 3, stride=2, padding=1, output_padding=1),
            nn.ConvTranspose2d(c3, 1, 3, stride=1, padding=1),
        ])

    def forward(self, x, res2=None, res3=None):
        x = F.elu(self.up4(self.fuse4(x, res3)))
        x = self.fuse2(x, res2)
        x = F.elu(self.head[0](x))
        x = F.elu(self.head[1](x))
        return self.head[2](x)


class ImageEncoder(nn.Module):
    """Stem + layer1 (res2, 256 ch, stride 4) + layer2 (res3, 512 ch, stride 8) of a torchvision ResNet-50 with
    frozen BatchNorm. Key names follow torchvision (``conv1``, ``bn1``, ``layer1``, ``layer2``)."""

    channels = (256, 512)

    def __init__(self, weights: str = "", trainable: bool = True) -> None:
        super().__init__()
        import torchvision
        from torchvision.ops.misc import FrozenBatchNorm2d

        net = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
        if weights:
            from vidseg.checkpoint import load_state_dict_file

            state = load_state_dict_file(weights)
            state = {k: v for k, v in state.items() if not k.startswith(("layer3.", "layer4.", "fc."))}
            missing, _ = net.load_state_dict(state, strict=False)
            missing = [k for k in missing if k.startswith(("conv1", "bn1", "layer1", "layer2"))]
            if missing:
                raise ValueError(f"MODEL.INSTMOVE.IMAGE_ENCODER_WEIGHTS: {weights} lacks ResNet-50 keys, e.g. "
                                 f"{missing[:3]}")
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2 = net.layer1, net.layer2
        if not trainable:
            for p in self.parameters():
                p.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        res2 = self.layer1(x)
        return res2, self.layer2(res2)
