"""Per-level fusion of the appearance and motion FPN features ("concatenate + adapt", paper 001)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConcatConvFusion"]


class ConcatConvFusion(nn.Module):
    """``F_l = adaptor(concat(A_l, M_l))`` for every level l, with ONE adaptor shared by all levels.

    The adaptor is ``num_convs`` × (Conv k×k, stride 1, "same" padding, bias → ReLU), the first reducing
    ``2·in_channels`` to ``out_channels``; ReLU also follows the last conv, so fused features are ≥ 0.
    PyTorch default init (the adaptor is never loaded from a single-stream checkpoint).
    """

    def __init__(self, *, in_channels: int, out_channels: int, num_convs: int = 3, kernel_size: int = 3) -> None:
        """
        Args:
            in_channels: channels of each stream's feature maps (C).
            out_channels: channels of the fused maps (must match what the heads expect).
            num_convs: conv + ReLU layers of the adaptor (>= 1).
            kernel_size: odd kernel size.
        """
        super().__init__()
        if num_convs < 1 or kernel_size % 2 == 0:
            raise ValueError(f"MODEL.MOSEG.FUSION: NUM_CONVS must be >= 1 and KERNEL_SIZE odd, "
                             f"got {num_convs} / {kernel_size}")
        layers: list[nn.Module] = []
        for i in range(num_convs):
            layers += [nn.Conv2d(2 * in_channels if i == 0 else out_channels, out_channels, kernel_size,
                                 padding=kernel_size // 2), nn.ReLU(inplace=True)]
        self.adaptor = nn.Sequential(*layers)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)

    def forward(self, appearance: dict[str, torch.Tensor], motion: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """
        Args:
            appearance: {level: N×C×h_l×w_l}.
            motion: the same levels and shapes.
        Returns:
            {level: N×out_channels×h_l×w_l}, in the order of ``appearance``.
        """
        if set(appearance) != set(motion):
            raise ValueError(f"ConcatConvFusion: stream levels differ: {sorted(appearance)} vs {sorted(motion)}")
        out = {}
        for k, a in appearance.items():
            m = motion[k]
            if a.shape != m.shape:
                raise ValueError(f"ConcatConvFusion: level {k!r} shapes differ: {tuple(a.shape)} vs {tuple(m.shape)}")
            out[k] = self.adaptor(torch.cat([a, m], dim=1))
        return out
