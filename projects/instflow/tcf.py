"""Temporal context fusion (method spec §2.7): dot-product attention from target to reference features,
added residually through a zero-initialised BN, so the module is the identity at initialisation."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.layers import get_norm
from torch import nn

from vidseg.modeling.transformer.position_encoding import PositionEmbeddingSine


class TemporalContextFusion(nn.Module):
    """``TCF(x_t, x_r) = x_t + BN(W_o · softmax(Q Kᵀ / sqrt(d)) V)`` with ``Q = W_q(x_t + P)``,
    ``K = W_k(x_r + P)``, ``V = W_v(x_r [+ P])`` and P a 2-D sine position encoding shared by both frames."""

    def __init__(self, dim: int, *, num_heads: int = 1, pos_encoding: str = "sine", pos_on_value: bool = True,
                 zero_init: bool = True, query_chunk: int = 0, norm: str = "BN") -> None:
        super().__init__()
        if dim % num_heads or (pos_encoding == "sine" and dim % 2):
            raise ValueError(f"MODEL.INSTFLOW.TCF: dim {dim} must be even and divisible by NUM_HEADS {num_heads}")
        if pos_encoding not in ("sine", "none"):
            raise ValueError(f"MODEL.INSTFLOW.TCF.POS_ENCODING: expected 'sine' or 'none', got {pos_encoding!r}")
        self.dim, self.num_heads, self.query_chunk = dim, num_heads, int(query_chunk)
        self.pos = PositionEmbeddingSine(dim // 2, normalize=True) if pos_encoding == "sine" else None
        self.pos_on_value = pos_on_value
        self.q, self.k, self.v, self.o = (nn.Conv2d(dim, dim, 1) for _ in range(4))
        self.norm = get_norm(norm, dim) or nn.Identity()
        self.scale = (dim // num_heads) ** -0.5
        if zero_init and isinstance(self.norm, nn.modules.batchnorm._NormBase | nn.GroupNorm):
            nn.init.zeros_(self.norm.weight)
        elif zero_init:
            nn.init.zeros_(self.o.weight)
            nn.init.zeros_(self.o.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # B×D×h×w -> B×heads×N×d
        b, d, h, w = x.shape
        return x.reshape(b, self.num_heads, d // self.num_heads, h * w).transpose(2, 3)

    def qkv(self, x_t: torch.Tensor, x_r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p = self.pos(x_t) if self.pos is not None else torch.zeros_like(x_t[:1])
        v_in = x_r + p if self.pos_on_value else x_r
        return self._heads(self.q(x_t + p)), self._heads(self.k(x_r + p)), self._heads(self.v(v_in))

    def attention(self, x_t: torch.Tensor, x_r: torch.Tensor) -> torch.Tensor:
        """The attention matrix B×heads×N_t×N_r (rows sum to 1)."""
        q, k, _ = self.qkv(x_t, x_r)
        return torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)

    def forward(self, x_t: torch.Tensor, x_r: torch.Tensor) -> torch.Tensor:
        if x_t.shape != x_r.shape:
            raise ValueError(f"TCF: target and reference features differ in shape: {tuple(x_t.shape)} vs "
                             f"{tuple(x_r.shape)}")
        q, k, v = self.qkv(x_t, x_r)
        step = self.query_chunk if self.query_chunk > 0 else q.shape[2]
        # fused softmax(q kᵀ · scale) v: the N_t × N_r matrix is never materialised (the same values as `attention`)
        y = torch.cat([F.scaled_dot_product_attention(q[:, :, s:s + step], k, v, scale=self.scale)
                       for s in range(0, q.shape[2], step)], dim=2)
        b, d, h, w = x_t.shape
        y = y.transpose(2, 3).reshape(b, d, h, w)
        return x_t + self.norm(self.o(y))


class ConcatConvFusion(nn.Module):
    """Ablation (paper Table II "Concat + CONVS"): ``x_t + BN(conv3×3(relu(conv3×3([x_t, x_r]))))``, zero-init BN."""

    def __init__(self, dim: int, norm: str = "BN") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2 * dim, dim, 3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm = get_norm(norm, dim) or nn.Identity()
        target = self.norm if hasattr(self.norm, "weight") else self.conv2
        nn.init.zeros_(target.weight)

    def forward(self, x_t: torch.Tensor, x_r: torch.Tensor) -> torch.Tensor:
        return x_t + self.norm(self.conv2(torch.relu(self.conv1(torch.cat([x_t, x_r], 1)))))


FUSION_MODES = ("attention", "concat_convs")


def build_fusion(cfg, dims: list[int]) -> nn.ModuleList:
    """One fusion module per fused skip (s16 ASPP output, s8 projection) from ``MODEL.INSTFLOW.TCF``."""
    t = cfg.MODEL.INSTFLOW.TCF
    norm = cfg.MODEL.INSTFLOW.NORM
    if t.MODE == "attention":
        return nn.ModuleList(TemporalContextFusion(d, num_heads=t.NUM_HEADS, pos_encoding=t.POS_ENCODING,
                                                   pos_on_value=t.POS_ON_VALUE, zero_init=t.ZERO_INIT,
                                                   query_chunk=t.QUERY_CHUNK, norm=norm) for d in dims)
    if t.MODE == "concat_convs":
        return nn.ModuleList(ConcatConvFusion(d, norm) for d in dims)
    raise ValueError(f"MODEL.INSTFLOW.TCF.MODE: expected one of {FUSION_MODES}, got {t.MODE!r}")
