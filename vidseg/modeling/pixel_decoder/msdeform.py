"""``MSDeformAttnPixelDecoder``: Mask2Former's pixel decoder (Deformable-DETR encoder over res3..res5 + one FPN
level to stride 4), run per frame in float32.

Module names follow Mask2Former except for two renames done by ``vidseg.checkpoint``: its
``transformer.{level_embed,encoder.layers}`` is our ``encoder.{level_embed,layers}``, and its ``adapter_k`` /
``layer_k`` are our ``lateral_convs.{k-1}`` / ``output_convs.{k-1}``.
"""
from __future__ import annotations

import math

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import CfgNode, configurable
from detectron2.layers import Conv2d, ShapeSpec
from torch import nn
from torch.nn import functional as F

from vidseg.layers.ms_deform_attn import MSDeformAttn
from vidseg.registry import PIXEL_DECODER_REGISTRY

from ..transformer.position_encoding import PositionEmbeddingSine
from .common import check_in_features, make_norm

__all__ = ["MSDeformAttnEncoderLayer", "MSDeformAttnEncoder", "MSDeformAttnPixelDecoder"]


class MSDeformAttnEncoderLayer(nn.Module):
    """Post-norm encoder layer: multi-scale deformable self-attention, then a ReLU FFN."""

    def __init__(self, *, d_model: int, d_ffn: int, dropout: float, n_levels: int, n_heads: int,
                 n_points: int) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(d_model=d_model, n_levels=n_levels, n_heads=n_heads, n_points=n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: torch.Tensor, level_start_index: torch.Tensor) -> torch.Tensor:
        """src, pos: (B, S, C); reference_points: (B, S, L, 2) -> (B, S, C)."""
        attn = self.self_attn(src + pos, reference_points, src, spatial_shapes, level_start_index)
        src = self.norm1(src + self.dropout1(attn))
        ffn = self.linear2(self.dropout2(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout3(ffn))


class MSDeformAttnEncoder(nn.Module):
    """Stack of deformable encoder layers over L flattened levels, with a learnable embedding per level."""

    def __init__(self, *, d_model: int, n_heads: int, num_layers: int, dim_feedforward: int, dropout: float,
                 n_levels: int, n_points: int) -> None:
        super().__init__()
        self.level_embed = nn.Parameter(torch.empty(n_levels, d_model))
        self.layers = nn.ModuleList(
            MSDeformAttnEncoderLayer(d_model=d_model, d_ffn=dim_feedforward, dropout=dropout, n_levels=n_levels,
                                     n_heads=n_heads, n_points=n_points)
            for _ in range(num_layers)
        )
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MSDeformAttn):
                m.reset_parameters()
        nn.init.normal_(self.level_embed)

    @staticmethod
    def reference_points(spatial_shapes: list[tuple[int, int]], batch: int, device: torch.device) -> torch.Tensor:
        """Normalised pixel centres ``((x + 0.5) / W_l, (y + 0.5) / H_l)`` of every token, the same for all
        levels it samples from: (B, S, L, 2)."""
        refs = []
        for h, w in spatial_shapes:
            ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
            xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
            ref_y, ref_x = torch.meshgrid(ys, xs, indexing="ij")
            refs.append(torch.stack((ref_x.reshape(-1), ref_y.reshape(-1)), -1))
        ref = torch.cat(refs, 0)
        return ref[None, :, None, :].expand(batch, -1, len(spatial_shapes), -1)

    def forward(self, srcs: list[torch.Tensor], pos_embeds: list[torch.Tensor]) -> list[torch.Tensor]:
        """srcs, pos_embeds: L maps (B, C, H_l, W_l) -> L encoded maps of the same shapes."""
        batch = srcs[0].shape[0]
        shapes = [(int(s.shape[2]), int(s.shape[3])) for s in srcs]
        src_flat = torch.cat([s.flatten(2).transpose(1, 2) for s in srcs], 1)
        pos_flat = torch.cat([p.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1)
                              for lvl, p in enumerate(pos_embeds)], 1)
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=src_flat.device)
        sizes = [h * w for h, w in shapes]
        level_start_index = torch.as_tensor([0] + sizes[:-1], dtype=torch.long, device=src_flat.device).cumsum(0)
        refs = self.reference_points(shapes, batch, src_flat.device)
        out = src_flat
        for layer in self.layers:
            out = layer(out, pos_flat, refs, spatial_shapes, level_start_index)
        return [z.transpose(1, 2).reshape(batch, -1, h, w) for z, (h, w) in zip(out.split(sizes, 1), shapes)]


@PIXEL_DECODER_REGISTRY.register()
class MSDeformAttnPixelDecoder(nn.Module):
    """Per-frame pixel decoder of Mask2Former (its ``MSDeformAttnPixelDecoder``).

    ``deform_in_features`` (res3..res5) -> 1×1 conv + GroupNorm to ``conv_dim`` -> deformable encoder with 2D sine
    position + level embeddings; then FPN levels down to ``common_stride`` (lateral 1×1 conv + bilinear upsampling
    + 3×3 conv, each normed), then a 1×1 conv to ``mask_dim``.
    """

    @configurable
    def __init__(
        self,
        *,
        input_shape: dict[str, ShapeSpec],
        deform_in_features: list[str],
        conv_dim: int = 256,
        mask_dim: int = 256,
        norm: str = "GN",
        encoder_layers: int = 6,
        num_heads: int = 8,
        num_points: int = 4,
        dim_feedforward: int = 1024,
        dropout: float = 0.0,
        common_stride: int = 4,
    ) -> None:
        """
        Args:
            input_shape: backbone features used by the decoder (PIXEL_DECODER.IN_FEATURES) with channels/strides.
            deform_in_features: the (>= 3) features the deformable encoder reads, e.g. res3, res4, res5.
            conv_dim / mask_dim: width of the encoder/FPN maps / of the mask features.
            norm: normalisation of the FPN convs ("GN", "", or a detectron2 norm name).
            encoder_layers, num_heads, num_points, dim_feedforward, dropout: deformable encoder settings.
            common_stride: stride of the mask features (4).
        """
        super().__init__()
        shapes = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
        check_in_features("MODEL.PIXEL_DECODER.DEFORM_IN_FEATURES", deform_in_features, input_shape, minimum=3)
        deform = sorted(deform_in_features, key=lambda f: input_shape[f].stride)
        self.deform_features = deform[::-1]  # low -> high resolution, e.g. res5, res4, res3
        self.input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(input_shape[f].channels, conv_dim, kernel_size=1), make_norm("GN", conv_dim))
            for f in self.deform_features
        )
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.constant_(proj[0].bias, 0)
        self.encoder = MSDeformAttnEncoder(d_model=conv_dim, n_heads=num_heads, num_layers=encoder_layers,
                                           dim_feedforward=dim_feedforward, dropout=dropout,
                                           n_levels=len(deform), n_points=num_points)
        self.pe_layer = PositionEmbeddingSine(conv_dim // 2, normalize=True)

        finest = input_shape[deform[0]].stride
        num_fpn = int(round(math.log2(finest) - math.log2(common_stride)))
        fpn_features = [f for f, s in shapes if s.stride < finest][:max(num_fpn, 0)]
        if len(fpn_features) != num_fpn or num_fpn < 0:
            raise ValueError(f"MODEL.PIXEL_DECODER.IN_FEATURES: COMMON_STRIDE={common_stride} needs {num_fpn} "
                             f"feature(s) finer than stride {finest}, got {[f for f, _ in shapes]}")
        self.fpn_features = fpn_features[::-1]  # applied coarse -> fine
        use_bias = norm == ""
        self.lateral_convs = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        for f in fpn_features:  # stored fine -> coarse (index k-1 = Mask2Former's adapter_k / layer_k)
            lateral = Conv2d(input_shape[f].channels, conv_dim, kernel_size=1, bias=use_bias,
                             norm=make_norm(norm, conv_dim))
            output = Conv2d(conv_dim, conv_dim, kernel_size=3, padding=1, bias=use_bias,
                            norm=make_norm(norm, conv_dim), activation=F.relu)
            weight_init.c2_xavier_fill(lateral)
            weight_init.c2_xavier_fill(output)
            self.lateral_convs.append(lateral)
            self.output_convs.append(output)
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=1)
        weight_init.c2_xavier_fill(self.mask_features)
        self.mask_dim = mask_dim
        self.common_stride = common_stride

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict:
        pd = cfg.MODEL.PIXEL_DECODER
        check_in_features("MODEL.PIXEL_DECODER.IN_FEATURES", pd.IN_FEATURES, input_shape, minimum=1)
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in pd.IN_FEATURES},
            "deform_in_features": list(pd.DEFORM_IN_FEATURES),
            "conv_dim": pd.CONV_DIM,
            "mask_dim": pd.MASK_DIM,
            "norm": pd.NORM,
            "encoder_layers": pd.ENCODER_LAYERS,
            "num_heads": pd.NUM_HEADS,
            "num_points": pd.NUM_POINTS,
            "dim_feedforward": pd.DIM_FEEDFORWARD,
            "dropout": pd.DROPOUT,
            "common_stride": pd.COMMON_STRIDE,
        }

    def forward_features(self, features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """
        Args:
            features: backbone maps {name: (B, C_name, H/s, W/s)}.

        Returns:
            mask_features (B, mask_dim, H/4, W/4) and the encoder outputs [(B, conv_dim, H/32, W/32),
            (.., H/16, W/16), (.., H/8, W/8)] (low -> high resolution), all float32.
        """
        device_type = next(iter(features.values())).device.type
        with torch.autocast(device_type=device_type, enabled=False):  # deformable attention runs in fp32
            srcs, pos = [], []
            for proj, f in zip(self.input_proj, self.deform_features):
                x = features[f].float()
                srcs.append(proj(x))
                pos.append(self.pe_layer(x))
            outs = self.encoder(srcs, pos)
            y = outs[-1]
            for k, f in enumerate(self.fpn_features):
                idx = len(self.fpn_features) - 1 - k
                lateral = self.lateral_convs[idx](features[f].float())
                y = lateral + F.interpolate(y, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
                y = self.output_convs[idx](y)
            return self.mask_features(y), outs[:3]
