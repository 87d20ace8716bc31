"""Multi-Path Fusion decoder of ISVOS (paper 004 §3.3 Eq. 4, Fig. 4; spec §2.7).

Block i (B_i = res4/res3/res2, P_i = pixel-decoder levels 1/32, 1/16, 1/8):
    B̃_i = Conv3×3(B_i), P̃_i = Conv3×3(P_i) (both to C(O_{i-1}) channels, object-agnostic, broadcast over K),
    U = resize(O_{i-1}) to B_i's size, Z = concat(U + B̃_i, up×2(P̃_i)), O_i = ResBlock(Z) -> C_i.
Head: Conv3×3(C_2 -> 1)(ReLU(O_2)) at stride 4, then bilinear ×4. ``mpf=False`` drops the P path
(Z = U + B̃_i; "w/o MPF", paper Tab. 3).

Cost: the ResBlock's first conv and its 3×3 skip conv are linear in Z = concat(A, P) (A = U + B̃_i per object,
P = up×2(P̃_i) shared), so conv(relu(Z)) = conv_A(relu(A)) + conv_P(relu(P)) and skip(Z) = skip_A(A) + skip_P(P)
with the weights split along their input channels. The P halves are computed once per frame and broadcast over
the K objects (:meth:`paths`); the result equals the concatenated form (same parameters, checkpoints unchanged).

Layout: every map runs channels-last (NHWC) through the decoder, the layout oneDNN's and cuDNN's convolutions use
natively (no per-conv reorder of the activations); per-object + shared terms are broadcast adds in place of
materialised ``repeat_interleave`` copies. Same arithmetic, results equal within fp32 rounding (tested against the
literal concatenated form).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .value_encoder import ResBlock


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def _add_shared(x: torch.Tensor, shared: torch.Tensor, k: int) -> torch.Tensor:
    """(B·K, C, h, w) += (B, C, h, w) broadcast over the K objects, in place (``x`` is a fresh conv output)."""
    x.unflatten(0, (-1, k)).add_(shared[:, None])
    return x


class MPFDecoder(nn.Module):
    """(F_mem, backbone skips, pixel-decoder levels) -> per-object mask logits at the input size."""

    def __init__(self, *, value_dim: int, skip_dims: list[int], pixel_dim: int, channels: list[int],
                 mpf: bool = True) -> None:
        super().__init__()
        if len(skip_dims) != 3 or len(channels) != 3:
            raise ValueError(f"MODEL.ISVOS.MPF: 3 backbone features and 3 CHANNELS expected, got {skip_dims}, {channels}")
        self.mpf = bool(mpf)
        self.skip_convs = nn.ModuleList()
        self.pixel_convs = nn.ModuleList() if self.mpf else None
        self.blocks = nn.ModuleList()
        prev = value_dim
        for skip, out in zip(skip_dims, channels):
            self.skip_convs.append(nn.Conv2d(skip, prev, 3, padding=1))
            if self.mpf:
                self.pixel_convs.append(nn.Conv2d(pixel_dim, prev, 3, padding=1))
            self.blocks.append(ResBlock(2 * prev if self.mpf else prev, out))
            prev = out
        self.pred = nn.Conv2d(prev, 1, 3, padding=1)

    def paths(self, skips: list[torch.Tensor], pixels: list[torch.Tensor] | None) -> list[tuple]:
        """Object-agnostic per-frame terms of each block, computed once per frame: (B̃_i, P-terms or None).

        P-terms = (conv1_P(relu(P)), skip_P(P)), each (B, C_i, h_i, w_i), with P = up×2(P̃_i); see the module
        docstring."""
        out = []
        for i, skip in enumerate(skips):
            b = self.skip_convs[i](_nhwc(skip))
            p = None
            if self.mpf:
                p = F.interpolate(self.pixel_convs[i](_nhwc(pixels[i])), size=skip.shape[-2:], mode="bilinear",
                                  align_corners=False)
                blk, c = self.blocks[i], b.shape[1]
                p = (F.conv2d(F.relu(p), blk.conv1.weight[:, c:], None, padding=1),
                     F.conv2d(p, blk.downsample.weight[:, c:], None, padding=1) if blk.downsample is not None
                     else p)
            out.append((b, p))
        return out

    def _block(self, i: int, a: torch.Tensor, p_terms: tuple | None, k: int) -> torch.Tensor:
        """O_i from A = U + B̃_i ((B·K), C, h, w) and the shared P-terms (B, ·, h, w) of :meth:`paths`."""
        blk = self.blocks[i]
        if p_terms is None:
            return blk(a)

        c = a.shape[1]
        h = _add_shared(F.conv2d(F.relu(a), blk.conv1.weight[:, :c], blk.conv1.bias, padding=1), p_terms[0], k)
        r = blk.conv2(F.relu(h, inplace=True))
        if blk.downsample is None:  # identity skip: Z itself
            return r + torch.cat([a, p_terms[1].repeat_interleave(k, dim=0)], 1)
        skip = _add_shared(F.conv2d(a, blk.downsample.weight[:, :c], blk.downsample.bias, padding=1), p_terms[1], k)
        return skip.add_(r)

    def forward(self, memory: torch.Tensor, skips: list[torch.Tensor], pixels: list[torch.Tensor] | None,
                out_size: tuple[int, int], paths: list[tuple] | None = None) -> dict:
        """
        Args:
            memory: F_mem (B, K, C_v, h, w); skips: [res4, res3, res2]; pixels: [P_0, P_1, P_2] (MPF only).
            out_size: padded input (H, W); paths: precomputed :meth:`paths`.

        Returns:
            ``logits`` (B, K, H, W) and ``features`` [O_0, O_1, O_2] each (B, K, C_i, h_i, w_i).
        """
        b, k = memory.shape[:2]
        paths = paths if paths is not None else self.paths(skips, pixels)
        x = _nhwc(memory.flatten(0, 1))
        feats = []
        for i, (bt, pt) in enumerate(paths):
            u = F.interpolate(x, size=bt.shape[-2:], mode="bilinear", align_corners=False)
            x = self._block(i, (u.unflatten(0, (-1, k)) + bt[:, None]).flatten(0, 1), pt, k)
            feats.append(x.unflatten(0, (b, k)))
        logits = self.pred(F.relu(x))
        logits = F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)
        return {"logits": logits.reshape(b, k, *out_size), "features": feats}
