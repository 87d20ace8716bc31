"""Query-decoder building blocks shared by the Mask2Former-style decoders (IFR, Mask2Former-VIS, ISVOS).

All layers are sequence-first: ``tgt`` is (L, B, C) (L queries), ``memory`` is (S, B, C) (S tokens). Attribute
names (``self_attn``, ``multihead_attn``, ``norm``, ``linear1``, ``linear2``, ``layers``) follow Mask2Former, so
its published checkpoints map onto these modules by prefix renames only (see ``vidseg.checkpoint``).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SelfAttentionLayer", "CrossAttentionLayer", "FFNLayer", "MLP"]


def _with_pos(x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    return x if pos is None else x + pos


def _xavier_init(module: nn.Module) -> None:
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)


class SelfAttentionLayer(nn.Module):
    """Multi-head self-attention over the queries, residual, LayerNorm (post-norm unless ``normalize_before``).

    Queries and keys get ``query_pos`` added; values do not.
    """

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0, normalize_before: bool = False) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.normalize_before = normalize_before
        _xavier_init(self)

    def forward(
        self,
        tgt: torch.Tensor,
        *,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        query_pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            tgt: (L, B, C) queries.
            attn_mask: (L, L) or (B*nhead, L, L); bool True = blocked, or float added to the logits.
            key_padding_mask: (B, L) bool, True = ignored key.
            query_pos: (L, B, C) positional embedding of the queries, or None.

        Returns:
            (L, B, C).
        """
        x = self.norm(tgt) if self.normalize_before else tgt
        q = k = _with_pos(x, query_pos)
        out = self.self_attn(q, k, value=x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                             need_weights=False)[0]
        tgt = tgt + self.dropout(out)
        return tgt if self.normalize_before else self.norm(tgt)


class CrossAttentionLayer(nn.Module):
    """Multi-head attention from queries to a memory, residual, LayerNorm (post-norm unless ``normalize_before``).

    Queries get ``query_pos``, keys get ``pos``; values are the plain memory. With Mask2Former's masked attention
    ``attn_mask`` is a bool (B*nhead, L, S) tensor, True where a query may not look.
    """

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0, normalize_before: bool = False) -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.normalize_before = normalize_before
        _xavier_init(self)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        *,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        query_pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            tgt: (L, B, C) queries.
            memory: (S, B, C) keys/values.
            attn_mask: (L, S) or (B*nhead, L, S); bool True = blocked, or float added to the logits.
            key_padding_mask: (B, S) bool, True = ignored memory token.
            pos: (S, B, C) positional embedding of the memory, or None.
            query_pos: (L, B, C) positional embedding of the queries, or None.

        Returns:
            (L, B, C).
        """
        x = self.norm(tgt) if self.normalize_before else tgt
        out = self.multihead_attn(query=_with_pos(x, query_pos), key=_with_pos(memory, pos), value=memory,
                                  attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False)[0]
        tgt = tgt + self.dropout(out)
        return tgt if self.normalize_before else self.norm(tgt)


class FFNLayer(nn.Module):
    """Position-wise feed-forward block ``linear2(dropout(relu(linear1(x))))`` with residual and LayerNorm."""

    def __init__(self, d_model: int, dim_feedforward: int = 2048, dropout: float = 0.0,
                 normalize_before: bool = False) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.normalize_before = normalize_before
        _xavier_init(self)

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        """(L, B, C) -> (L, B, C)."""
        x = self.norm(tgt) if self.normalize_before else tgt
        tgt = tgt + self.dropout(self.linear2(self.dropout(F.relu(self.linear1(x)))))
        return tgt if self.normalize_before else self.norm(tgt)


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (none after the last), e.g. the mask-kernel head."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MLP: num_layers must be >= 1, got {num_layers}")
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., input_dim) -> (..., output_dim)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x
