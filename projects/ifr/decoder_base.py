"""``VideoQueryDecoderBase``: the parts the IFR decoder and the Mask2Former-VIS decoder share.

Learnable query features / positions, level embedding, input projections, the prediction heads (``decoder_norm``,
``class_embed``, ``mask_embed``) and Mask2Former's masked-attention masks. Attribute names follow Mask2Former's
``MultiScaleMaskedTransformerDecoder`` so its checkpoints map by prefix renames (``vidseg.checkpoint``).
"""
from __future__ import annotations

import math

import torch
from detectron2.layers import Conv2d
from fvcore.nn import weight_init
from torch import nn
from torch.nn import functional as F

from vidseg.modeling.transformer.layers import MLP

from .config import CLASS_LOSSES, class_loss_of
ATTN_MASK_SOURCES = ("prev_layer", "none")  # masked attention from the previous prediction | no mask


class VideoQueryDecoderBase(nn.Module):
    """Shared state of the video query decoders. Subclasses implement ``forward``."""

    def __init__(
        self,
        *,
        in_channels: int,
        mask_dim: int,
        num_classes: int,
        class_loss: str,
        hidden_dim: int,
        num_queries: int,
        nheads: int,
        dim_feedforward: int,
        dec_layers: int,
        pre_norm: bool,
        dropout: float = 0.0,
        enforce_input_project: bool = False,
        attn_mask_source: str = "prev_layer",
        num_feature_levels: int = 3,
        focal_prior_prob: float = 0.0,
    ) -> None:
        """
        Args:
            in_channels: channels of the pixel decoder's multi-scale features.
            mask_dim: channels of the mask features (and of the mask kernels).
            num_classes: K; the class head has K outputs (``focal``) or K+1 (``ce``, last = no object).
            class_loss: ``focal`` | ``ce``.
            hidden_dim / num_queries / nheads / dim_feedforward / dropout / pre_norm: transformer settings.
            dec_layers: number of supervised predictions = decoder layers + 1 (initial prediction).
            enforce_input_project: use a 1×1 conv even when ``in_channels == hidden_dim``.
            attn_mask_source: ``prev_layer`` (masked attention from the previous prediction) or ``none``.
            num_feature_levels: feature levels the layers cycle through (low -> high resolution).
            focal_prior_prob: ``focal`` only, if > 0: every class logit starts at bias -log((1-p)/p), so the
                initial sigmoid scores are p (Focal loss paper §4.1, Deformable DETR); 0 keeps the Linear init.
        """
        super().__init__()
        if class_loss not in CLASS_LOSSES:
            raise ValueError(f"MODEL.IFR.CLASS_LOSS: expected one of {CLASS_LOSSES}, got {class_loss!r}")
        if dec_layers < 1:
            raise ValueError(f"MODEL.IFR.DEC_LAYERS: expected >= 1 (layers + initial prediction), got {dec_layers}")
        if attn_mask_source not in ATTN_MASK_SOURCES:
            raise ValueError(f"MODEL.IFR.ATTN_MASK_SOURCE: expected one of {ATTN_MASK_SOURCES}, got {attn_mask_source!r}")
        if not 0.0 <= focal_prior_prob < 1.0:
            raise ValueError(f"MODEL.IFR.FOCAL_PRIOR_PROB: expected a probability in [0, 1), got {focal_prior_prob}")
        if hidden_dim % nheads:
            raise ValueError(f"MODEL.IFR.HIDDEN_DIM={hidden_dim} must be divisible by MODEL.IFR.NHEADS={nheads}")
        self.num_layers = dec_layers - 1
        self.masked_attention = attn_mask_source == "prev_layer"
        self.num_queries = num_queries
        self.num_heads = nheads
        self.hidden_dim = hidden_dim
        self.num_feature_levels = num_feature_levels
        self.pre_norm = pre_norm
        self.dropout = dropout
        self.dim_feedforward = dim_feedforward
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(num_feature_levels, hidden_dim)
        self.input_proj = nn.ModuleList()
        for _ in range(num_feature_levels):
            if in_channels != hidden_dim or enforce_input_project:
                conv = Conv2d(in_channels, hidden_dim, kernel_size=1)
                weight_init.c2_xavier_fill(conv)
                self.input_proj.append(conv)
            else:
                self.input_proj.append(nn.Sequential())
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.class_embed = nn.Linear(hidden_dim, num_classes + (1 if class_loss == "ce" else 0))
        if class_loss == "focal" and focal_prior_prob > 0:
            nn.init.constant_(self.class_embed.bias, -math.log((1 - focal_prior_prob) / focal_prior_prob))
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    def project_levels(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """(B·T, C_in, h_l, w_l) per level -> (B·T, d, h_l, w_l) with the level embedding added."""
        if len(features) != self.num_feature_levels:
            raise ValueError(
                f"{type(self).__name__}: expected {self.num_feature_levels} multi-scale feature levels, got {len(features)}"
            )
        return [
            self.input_proj[lvl](x) + self.level_embed.weight[lvl][None, :, None, None]
            for lvl, x in enumerate(features)
        ]

    def initial_queries(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Query features C_1 and positions E, each (N, B, d)."""
        feat = self.query_feat.weight[:, None].expand(-1, batch, -1)
        pos = self.query_embed.weight[:, None].expand(-1, batch, -1)
        return feat, pos

    def class_logits(self, queries: torch.Tensor) -> torch.Tensor:
        """(N, B, d) -> (B, N, K')."""
        return self.class_embed(self.decoder_norm(queries)).transpose(0, 1)

    def mask_kernels(self, queries: torch.Tensor) -> torch.Tensor:
        """(..., N, B, d) -> (..., N, B, mask_dim) dynamic mask kernels."""
        return self.mask_embed(self.decoder_norm(queries))

    def blocked_regions(self, masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Where masked attention blocks a query: mask probability < 0.5 after resizing to the level's size.

        Args:
            masks: (B, N, T, h, w) mask logits.
            size: (h_l, w_l) of the feature level the next layer reads.

        Returns:
            (B, N, T, h_l·w_l) bool, True = blocked.
        """
        b, n, t = masks.shape[:3]
        m = F.interpolate(masks.detach().flatten(1, 2), size=size, mode="bilinear", align_corners=False)
        return m.sigmoid().view(b, n, t, -1) < 0.5

    def attention_mask(self, blocked: torch.Tensor) -> torch.Tensor:
        """(B, N, S) bool -> (B·nheads, N, S) attention mask; a row blocked everywhere is unblocked."""
        blocked = blocked & ~blocked.all(dim=-1, keepdim=True)
        return blocked.repeat_interleave(self.num_heads, dim=0)

    @classmethod
    def from_config(cls, cfg, *, in_channels: int, mask_dim: int) -> dict:
        """Constructor arguments of the shared part from ``MODEL.IFR`` / ``MODEL.NUM_CLASSES`` (subclasses extend)."""
        ifr = cfg.MODEL.IFR
        return {
            "in_channels": in_channels,
            "mask_dim": mask_dim,
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "class_loss": class_loss_of(cfg),
            "hidden_dim": ifr.HIDDEN_DIM,
            "num_queries": ifr.NUM_QUERIES,
            "nheads": ifr.NHEADS,
            "dim_feedforward": ifr.DIM_FEEDFORWARD,
            "dec_layers": ifr.DEC_LAYERS,
            "pre_norm": ifr.PRE_NORM,
            "dropout": ifr.DROPOUT,
            "enforce_input_project": ifr.ENFORCE_INPUT_PROJ,
            "attn_mask_source": ifr.ATTN_MASK_SOURCE,
            "focal_prior_prob": ifr.FOCAL_PRIOR_PROB,
        }

    def frame_memory(self, levels: list[torch.Tensor], pos: list[torch.Tensor], batch: int) -> tuple[list, list]:
        """Per level (B·T, d, h, w) features and positions -> (T, h·w, B, d) each (frame-major token sets)."""
        def arrange(x: torch.Tensor) -> torch.Tensor:
            bt, d = x.shape[:2]
            return x.reshape(batch, bt // batch, d, -1).permute(1, 3, 0, 2)

        return [arrange(x) for x in levels], [arrange(p) for p in pos]
