"""``VideoMaskedTransformerDecoder``: the Mask2Former-VIS decoder (paper 003), IFR's baseline.

N video queries attend, per layer, to all T·h_l·w_l tokens of one feature level at once (3D sine positions;
masked attention over the spatio-temporal volume), then self-attention and FFN. One mask kernel per query is
applied to every frame; the class comes from the same query. Selected by ``MODEL.IFR.ENABLED: False``.
"""
from __future__ import annotations

import torch
from detectron2.config import configurable
from torch import nn

from vidseg.modeling.transformer.layers import CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from vidseg.modeling.transformer.position_encoding import PositionEmbeddingSine, PositionEmbeddingSine3D

from .decoder_base import VideoQueryDecoderBase
from .mask_readout import MaskReadout


class VideoMaskedTransformerDecoder(VideoQueryDecoderBase):
    """Mask2Former-VIS masked-attention decoder over whole clips."""

    @configurable
    def __init__(self, *, temporal_pe: bool = True, **kwargs) -> None:
        """
        Args:
            temporal_pe: 3D sine positions (time normalised by the clip length); False: per-frame 2D positions,
                which makes the decoder agnostic to the frame order.
            kwargs: :class:`VideoQueryDecoderBase` arguments.
        """
        super().__init__(**kwargs)
        self.temporal_pe = temporal_pe
        n_pos = self.hidden_dim // 2
        self.pe_layer = PositionEmbeddingSine3D(n_pos, normalize=True) if temporal_pe else PositionEmbeddingSine(
            n_pos, normalize=True
        )
        d, h, ff, p, pre = self.hidden_dim, self.num_heads, self.dim_feedforward, self.dropout, self.pre_norm
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(d, h, dropout=p, normalize_before=pre) for _ in range(self.num_layers)
        )
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(d, h, dropout=p, normalize_before=pre) for _ in range(self.num_layers)
        )
        self.transformer_ffn_layers = nn.ModuleList(FFNLayer(d, ff, p, pre) for _ in range(self.num_layers))

    @classmethod
    def from_config(cls, cfg, *, in_channels: int, mask_dim: int) -> dict:
        ret = super().from_config(cfg, in_channels=in_channels, mask_dim=mask_dim)
        ret.update(temporal_pe=cfg.MODEL.IFR.BASELINE_TEMPORAL_PE)
        return ret

    def positions(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        """(B·T, d, h, w) level -> (B·T, d, h, w) positional encoding (3D or per-frame 2D)."""
        if not self.temporal_pe:
            return self.pe_layer(x)
        bt = x.shape[0]
        pos = self.pe_layer(x.view(batch, bt // batch, *x.shape[1:]))  # (B, T, d, h, w)
        return pos.flatten(0, 1)

    def forward(
        self, features: list[torch.Tensor], mask_features: torch.Tensor, *, num_frames: int, cross_frame: bool = False
    ) -> dict:
        """Same inputs and outputs as :meth:`IFRTransformerDecoder.forward`; never returns ``pred_cross_masks``
        (one kernel per query serves every frame, ``cross_frame`` is accepted for interface parity)."""
        bt = mask_features.shape[0]
        if num_frames < 1 or bt % num_frames:
            raise ValueError(f"VideoMaskedTransformerDecoder: {bt} frames cannot form clips of num_frames={num_frames}")
        b = bt // num_frames
        levels = self.project_levels(features)
        sizes = [tuple(x.shape[-2:]) for x in levels]
        memory, memory_pos = self.frame_memory(levels, [self.positions(x, b) for x in levels], b)
        memory = [m.flatten(0, 1) for m in memory]  # (T·h·w, B, d), frame-major
        memory_pos = [p.flatten(0, 1) for p in memory_pos]
        readout = MaskReadout(mask_features, b)
        output, query_pos = self.initial_queries(b)
        kernels = self.mask_kernels(output)
        # Inference returns only the last prediction: the earlier ones are needed only as attention masks.
        masks = readout.full(kernels) if self.training or self.num_layers == 0 else None
        predictions = [] if masks is None else [{"pred_logits": self.class_logits(output), "pred_masks": masks}]
        for i in range(self.num_layers):
            lvl = i % self.num_feature_levels
            attn = None
            if self.masked_attention:
                blocked = readout.blocked(kernels, sizes[lvl]) if masks is None else self.blocked_regions(masks, sizes[lvl])
                attn = self.attention_mask(blocked.flatten(2))
            output = self.transformer_cross_attention_layers[i](
                output, memory[lvl], attn_mask=attn, pos=memory_pos[lvl], query_pos=query_pos
            )
            output = self.transformer_self_attention_layers[i](output, query_pos=query_pos)
            output = self.transformer_ffn_layers[i](output)
            kernels = self.mask_kernels(output)
            masks = readout.full(kernels) if self.training or i == self.num_layers - 1 else None
            if masks is not None:
                predictions.append({"pred_logits": self.class_logits(output), "pred_masks": masks})
        result = dict(predictions[-1])
        result["pred_embeds"] = self.decoder_norm(output).transpose(0, 1)
        if self.training:
            result["aux_outputs"] = predictions[:-1]
        return result
