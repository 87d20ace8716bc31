"""Enhanced Key Encoder (paper 004 §3.2, Eq. 2; spec §2.3): instance queries injected into the query key.

1. Q_g = Conv3×3(C(res4) -> C_h)(F_res4) (no activation);
2. reference points p = sigmoid(Linear(q̃_ins + query_embed)) (or each query's mask centroid);
3. q̃_vos = LN(q' + FFN(q')), q' = LN(q̃_ins + DeformAttn(q̃_ins + query_embed, p, Q_g)) (one level);
4. S = sigmoid(q̃_vos · Q_g) (N×h×w, no scaling);
5. key Q = Conv3×3(C_h + N -> C_k)(concat(Q_g, S)) (orthogonal init, zero bias).

With ``query_enhance=False`` (paper Tab. 3 "w/o QE") the key is Conv3×3(C(res4) -> C_k)(F_res4), STCN's key.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vidseg.layers import MSDeformAttn

from .config import REF_POINT_MODES


class EnhancedKeyEncoder(nn.Module):
    """F_res4 (+ instance queries) -> key (B, C_k, h, w)."""

    def __init__(self, *, in_channels: int, key_dim: int, hidden_dim: int, num_queries: int,
                 query_enhance: bool = True, deform_heads: int = 8, deform_points: int = 4, ffn_dim: int = 1024,
                 ref_points: str = "linear", use_query_pos: bool = True, kernel: int = 3) -> None:
        super().__init__()
        if ref_points not in REF_POINT_MODES:
            raise ValueError(f"MODEL.ISVOS.QE.REF_POINTS: expected one of {REF_POINT_MODES}, got {ref_points!r}")
        self.query_enhance = bool(query_enhance)
        self.ref_mode = ref_points
        self.use_query_pos = bool(use_query_pos)
        pad = kernel // 2
        if not self.query_enhance:
            self.key_proj = nn.Conv2d(in_channels, key_dim, kernel, padding=pad)
        else:
            self.global_conv = nn.Conv2d(in_channels, hidden_dim, 3, padding=1)
            self.ref_point = nn.Linear(hidden_dim, 2)
            self.deform_attn = MSDeformAttn(d_model=hidden_dim, n_levels=1, n_heads=deform_heads,
                                            n_points=deform_points)
            self.norm1 = nn.LayerNorm(hidden_dim)
            self.ffn = (nn.Sequential(nn.Linear(hidden_dim, ffn_dim), nn.ReLU(inplace=True),
                                      nn.Linear(ffn_dim, hidden_dim)) if ffn_dim > 0 else None)
            self.norm2 = nn.LayerNorm(hidden_dim) if ffn_dim > 0 else None
            self.key_proj = nn.Conv2d(hidden_dim + num_queries, key_dim, kernel, padding=pad)
        nn.init.orthogonal_(self.key_proj.weight)
        nn.init.zeros_(self.key_proj.bias)

    def reference_points(self, queries: torch.Tensor, query_pos: torch.Tensor | None,
                         masks: torch.Tensor | None) -> torch.Tensor:
        """(B, N, 2) normalised (x, y): from the queries (``linear``) or each mask's probability centroid."""
        if self.ref_mode == "linear":
            q = queries + query_pos if query_pos is not None else queries
            return self.ref_point(q).sigmoid()
        if masks is None:
            raise ValueError("EnhancedKeyEncoder: REF_POINTS 'mask_centroid' needs the IS branch's mask logits")
        p = masks.detach().float().sigmoid()  # (B, N, H, W)
        h, w = p.shape[-2:]
        ys = (torch.arange(h, device=p.device, dtype=p.dtype) + 0.5) / h
        xs = (torch.arange(w, device=p.device, dtype=p.dtype) + 0.5) / w
        mass = p.sum((-2, -1)).clamp_min(1e-6)
        cx = (p.sum(-2) * xs).sum(-1) / mass
        cy = (p.sum(-1) * ys).sum(-1) / mass
        return torch.stack([cx, cy], -1)

    def enhance(self, queries: torch.Tensor, query_pos: torch.Tensor | None, q_g: torch.Tensor,
                masks: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. 2: q̃_ins (B, N, C_h) gathers Q_g (B, C_h, h, w) through one deformable layer -> q̃_vos (B, N, C_h)."""
        b, c, h, w = q_g.shape
        ref = self.reference_points(queries, query_pos, masks)[:, :, None, :]  # (B, N, 1, 2)
        value = q_g.flatten(2).transpose(1, 2)
        shapes = torch.as_tensor([[h, w]], dtype=torch.long, device=q_g.device)
        start = torch.zeros(1, dtype=torch.long, device=q_g.device)
        q_in = queries + query_pos if (self.use_query_pos and query_pos is not None) else queries
        with torch.autocast(device_type=q_g.device.type, enabled=False):
            attn = self.deform_attn(q_in.float(), ref.float(), value.float(), shapes, start)
        out = self.norm1(queries + attn)
        if self.ffn is not None:
            out = self.norm2(out + self.ffn(out))
        return out

    def forward(self, feature: torch.Tensor, queries: torch.Tensor | None = None,
                query_pos: torch.Tensor | None = None, masks: torch.Tensor | None = None) -> dict:
        """
        Args:
            feature: F_res4 (B, C, h, w).
            queries: q̃_ins (B, N, C_h) (QE only); query_pos: (B, N, C_h) or (N, C_h); masks: (B, N, H', W').

        Returns:
            ``key`` (B, C_k, h, w); with QE also ``similarity`` S (B, N, h, w) and ``q_vos`` (B, N, C_h).
        """
        if not self.query_enhance:
            return {"key": self.key_proj(feature)}
        if queries is None:
            raise ValueError("EnhancedKeyEncoder: query enhancement needs the instance queries")
        if query_pos is not None and query_pos.dim() == 2:
            query_pos = query_pos[None].expand(queries.shape[0], -1, -1)
        q_g = self.global_conv(feature)
        q_vos = self.enhance(queries, query_pos, q_g, masks)
        sim = torch.einsum("bnc,bchw->bnhw", q_vos, q_g).sigmoid()
        key = self.key_proj(torch.cat([q_g, sim], dim=1))
        return {"key": key, "similarity": sim, "q_vos": q_vos}
