"""``MaskReadout``: mask logits of query kernels over a clip's mask features, at full size or at a feature level's size.

The decoders predict masks after every layer. In training every prediction is supervised, so each one is computed at
full mask-feature resolution (H/4 × W/4). In inference only the last prediction is returned; the earlier ones serve
only as the next layer's masked-attention mask (paper 003 §3.1, Mask2Former's masked attention), which needs them
at the resolution of the feature level that layer reads (H/32 … H/8). Bilinear resizing is linear in its input, so
``resize(k · g) == k · resize(g)`` up to float rounding: resizing the mask features once per level and taking the
kernels' products there replaces, per layer, an N×T×H/4×W/4 product and its resize by an N×T×h×w product.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


class MaskReadout:
    """Mask logits of one clip: ``g`` is the clip's mask features (B·T, C, H, W) with frames of a clip consecutive.

    ``per_frame`` kernels are (T, N, B, C) (one kernel per frame: IFR), otherwise (N, B, C) (one per clip).
    """

    def __init__(self, mask_features: torch.Tensor, batch: int) -> None:
        bt = mask_features.shape[0]
        self.g = mask_features.view(batch, bt // batch, *mask_features.shape[1:])  # (B, T, C, H, W)
        self._resized: dict[tuple[int, int], torch.Tensor] = {}

    @staticmethod
    def _product(kernels: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        equation = "tnbc,btchw->bnthw" if kernels.dim() == 4 else "nbc,btchw->bnthw"
        return torch.einsum(equation, kernels, g)

    def full(self, kernels: torch.Tensor) -> torch.Tensor:
        """(B, N, T, H, W) mask logits at mask-feature resolution."""
        return self._product(kernels, self.g)

    def at(self, kernels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, N, T, h, w) mask logits equal (to rounding) to ``full(kernels)`` resized bilinearly to ``size``
        (``align_corners=False``, as the masked-attention mask is resized)."""
        size = (int(size[0]), int(size[1]))
        if size not in self._resized:
            b, t = self.g.shape[:2]
            resized = F.interpolate(self.g.flatten(0, 1), size=size, mode="bilinear", align_corners=False)
            self._resized[size] = resized.view(b, t, *resized.shape[1:])
        return self._product(kernels, self._resized[size])

    def blocked(self, kernels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, N, T, h·w) bool, True where the resized mask probability is < 0.5 (the decoders' ``blocked_regions``
        computed without the full-resolution masks)."""
        return self.at(kernels, size).detach().sigmoid().flatten(3) < 0.5
