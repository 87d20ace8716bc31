"""IS branch of ISVOS: Mask2Former's masked-attention image decoder (paper 004 §3.1, spec §2.2).

``InstanceDecoder`` runs N learnable queries over the pixel decoder's 3 levels (P_0 1/32, P_1 1/16, P_2 1/8),
cycling levels per layer: masked cross-attention (Eq. 1; blocked where the previous prediction has sigmoid
< 0.5, a query blocked everywhere attends everywhere) -> self-attention -> FFN. Heads (after ``decoder_norm``):
class Linear(d -> K+1) and a 3-layer mask MLP applied to F_pixel. Attribute names follow Mask2Former's
``MultiScaleMaskedTransformerDecoder`` so its checkpoints map by prefix renames.

Outputs ``queries`` (B, N, d): the final queries after ``decoder_norm`` (q̃_ins, spec §7 #3); with
``heads=False`` (inference) the class head and the final mask output are skipped (spec §7 #15).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vidseg.modeling.transformer.layers import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from vidseg.modeling.transformer.position_encoding import PositionEmbeddingSine


class InstanceDecoder(nn.Module):
    """Mask2Former image decoder over 3 feature levels."""

    def __init__(self, *, in_channels: int, mask_dim: int, num_classes: int, hidden_dim: int, num_queries: int,
                 nheads: int, dim_feedforward: int, dec_layers: int, pre_norm: bool = False,
                 num_levels: int = 3) -> None:
        super().__init__()
        if dec_layers < 1:
            raise ValueError(f"MODEL.ISVOS.IS_BRANCH.DEC_LAYERS: expected >= 1, got {dec_layers}")
        if hidden_dim % nheads:
            raise ValueError(f"MODEL.ISVOS.IS_BRANCH.HIDDEN_DIM={hidden_dim} must be divisible by NHEADS={nheads}")
        self.num_layers = dec_layers - 1
        self.num_heads = nheads
        self.num_levels = num_levels
        self.hidden_dim = hidden_dim
        self.num_queries = num_queries
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2, normalize=True)
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(num_levels, hidden_dim)
        self.input_proj = nn.ModuleList(
            nn.Conv2d(in_channels, hidden_dim, 1) if in_channels != hidden_dim else nn.Sequential()
            for _ in range(num_levels)
        )
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(hidden_dim, nheads, normalize_before=pre_norm) for _ in range(self.num_layers))
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_dim, nheads, normalize_before=pre_norm) for _ in range(self.num_layers))
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(hidden_dim, dim_feedforward, 0.0, pre_norm) for _ in range(self.num_layers))
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    def _predict(self, output: torch.Tensor, mask_features: torch.Tensor, heads: bool) -> tuple:
        """(N, B, d) queries -> class logits (B, N, K+1) or None, mask logits (B, N, H/4, W/4), normed queries."""
        normed = self.decoder_norm(output).transpose(0, 1)
        masks = torch.einsum("bnc,bchw->bnhw", self.mask_embed(normed), mask_features)
        return (self.class_embed(normed) if heads else None), masks, normed

    def forward(self, levels: list[torch.Tensor], mask_features: torch.Tensor, *, heads: bool = True) -> dict:
        """
        Args:
            levels: 3 maps (B, C, h_l, w_l), low -> high resolution.
            mask_features: F_pixel (B, mask_dim, H/4, W/4).
            heads: compute class logits and aux outputs (training); False keeps only what Eq. 1 needs.

        Returns:
            ``queries`` (B, N, d), ``pred_masks`` (B, N, H/4, W/4); with ``heads`` also ``pred_logits``
            (B, N, K+1) and ``aux_outputs`` (per earlier prediction, as dicts with ``pred_logits``/``pred_masks``).
        """
        if len(levels) != self.num_levels:
            raise ValueError(f"InstanceDecoder: expected {self.num_levels} feature levels, got {len(levels)}")
        b = mask_features.shape[0]
        src, pos, sizes = [], [], []
        for lvl, x in enumerate(levels):
            sizes.append(tuple(x.shape[-2:]))
            pos.append(self.pe_layer(x).flatten(2).permute(2, 0, 1))
            y = self.input_proj[lvl](x) + self.level_embed.weight[lvl][None, :, None, None]
            src.append(y.flatten(2).permute(2, 0, 1))
        query_pos = self.query_embed.weight[:, None].expand(-1, b, -1)
        output = self.query_feat.weight[:, None].expand(-1, b, -1)
        logits, masks, normed = self._predict(output, mask_features, heads)
        preds = [{"pred_logits": logits, "pred_masks": masks}]
        for i in range(self.num_layers):
            lvl = i % self.num_levels
            m = F.interpolate(masks.detach(), size=sizes[lvl], mode="bilinear", align_corners=False)
            blocked = m.sigmoid().flatten(2) < 0.5
            blocked = blocked & ~blocked.all(dim=-1, keepdim=True)
            attn = blocked.repeat_interleave(self.num_heads, dim=0)
            output = self.transformer_cross_attention_layers[i](
                output, src[lvl], attn_mask=attn, pos=pos[lvl], query_pos=query_pos)
            output = self.transformer_self_attention_layers[i](output, query_pos=query_pos)
            output = self.transformer_ffn_layers[i](output)
            logits, masks, normed = self._predict(output, mask_features, heads)
            preds.append({"pred_logits": logits, "pred_masks": masks})
        out = {"queries": normed, "pred_masks": masks}
        if heads:
            out["pred_logits"] = logits
            out["aux_outputs"] = preds[:-1]
        return out
