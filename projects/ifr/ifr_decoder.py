"""``IFRTransformerDecoder``: Mask2Former's masked-attention decoder with Inter-Frame Recurrent attention (paper 003).

Per layer i (feature level lv(i) = i mod 3, stride 32 -> 16 -> 8):

(a) frame recurrence, t = 1..T: X = [S^{t-1}; C_i] (2N queries, S^0 = C_i) -> cross-attention to frame t's
    tokens (masked by the previous prediction of frame t, same mask for both groups) -> joint self-attention over
    the 2N tokens -> keep the first N -> FFN = S^t. One set of weights for all t.
(b) clip update: C_{i+1} = FFN(SelfAttn(CrossAttn(C_i -> all T·N frame queries))).
(c) heads: class logits from LN(C_{i+1}); one mask kernel per frame from LN(S^t), applied to frame t's mask
    features (``pred_masks``) and, in training, to every frame u (``pred_cross_masks``, [t, u]).

The initial prediction (layer 0) uses C_1 for the class and one kernel for all frames. ``MODEL.IFR.RECURRENCE
False`` is the "IFR without recurrence" ablation: step (a) starts every frame from C_i (X = [C_i; C_i]) instead of
S^{t-1}; everything else (weights, clip update, per-frame kernels, losses) is unchanged.
"""
from __future__ import annotations

import torch
from detectron2.config import configurable
from torch import nn

from vidseg.modeling.transformer.layers import CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from vidseg.modeling.transformer.position_encoding import PositionEmbeddingSine

from .decoder_base import VideoQueryDecoderBase
from .mask_readout import MaskReadout


class IFRLayer(nn.Module):
    """One IFR layer: frame-level recurrence then the clip-level update. Sequence-first tensors."""

    def __init__(
        self,
        *,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        dropout: float = 0.0,
        pre_norm: bool = False,
        frame_ffn: bool = True,
        clip_ffn: bool = True,
        recurrence: bool = True,
    ) -> None:
        super().__init__()
        self.recurrence = recurrence
        self.frame_cross_attn = CrossAttentionLayer(d_model, nhead, dropout=dropout, normalize_before=pre_norm)
        self.joint_self_attn = SelfAttentionLayer(d_model, nhead, dropout=dropout, normalize_before=pre_norm)
        self.frame_ffn = FFNLayer(d_model, dim_feedforward, dropout, pre_norm) if frame_ffn else None
        self.temporal_cross_attn = CrossAttentionLayer(d_model, nhead, dropout=dropout, normalize_before=pre_norm)
        self.clip_self_attn = SelfAttentionLayer(d_model, nhead, dropout=dropout, normalize_before=pre_norm)
        self.clip_ffn = FFNLayer(d_model, dim_feedforward, dropout, pre_norm) if clip_ffn else None

    def recur(
        self,
        clip: torch.Tensor,
        query_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        attn_masks: list[torch.Tensor] | None,
    ) -> torch.Tensor:
        """Frame-level queries of every frame.

        Args:
            clip: (N, B, d) clip-level queries C_i.
            query_pos: (N, B, d) query positions E.
            memory / memory_pos: (T, S, B, d) tokens of each frame at this layer's level and their positions.
            attn_masks: T masks (B·nheads, N, S), True = blocked, or None.

        Returns:
            (T, N, B, d) frame-level queries S^1..S^T (without recurrence, S^t depends on C_i and frame t only).
        """
        n = clip.shape[0]
        pos2 = torch.cat([query_pos, query_pos])
        frame = clip
        out = []
        for t in range(memory.shape[0]):
            x = torch.cat([frame, clip])
            mask = None if attn_masks is None else attn_masks[t].repeat(1, 2, 1)
            x = self.frame_cross_attn(x, memory[t], attn_mask=mask, pos=memory_pos[t], query_pos=pos2)
            x = self.joint_self_attn(x, query_pos=pos2)
            frame = x[:n]
            if self.frame_ffn is not None:
                frame = self.frame_ffn(frame)
            out.append(frame)
            if not self.recurrence:
                frame = clip
        return torch.stack(out)

    def update_clip(
        self, clip: torch.Tensor, query_pos: torch.Tensor, frames: torch.Tensor, temporal_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """C_{i+1} from C_i (N, B, d) and the frame queries (T, N, B, d); ``temporal_mask`` (N, T·N) or None."""
        t = frames.shape[0]
        y = self.temporal_cross_attn(
            clip, frames.flatten(0, 1), attn_mask=temporal_mask, pos=query_pos.repeat(t, 1, 1), query_pos=query_pos
        )
        y = self.clip_self_attn(y, query_pos=query_pos)
        return self.clip_ffn(y) if self.clip_ffn is not None else y

    def forward(
        self,
        clip: torch.Tensor,
        query_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        attn_masks: list[torch.Tensor] | None,
        temporal_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(C_{i+1} (N, B, d), frame queries (T, N, B, d)); arguments as in :meth:`recur` / :meth:`update_clip`."""
        frames = self.recur(clip, query_pos, memory, memory_pos, attn_masks)
        return self.update_clip(clip, query_pos, frames, temporal_mask), frames


class IFRTransformerDecoder(VideoQueryDecoderBase):
    """Video query decoder with clip-level and recurrent frame-level queries (paper 003)."""

    @configurable
    def __init__(
        self,
        *,
        clip_attend_all: bool = True,
        frame_ffn: bool = True,
        clip_ffn: bool = True,
        recurrence: bool = True,
        **kwargs,
    ) -> None:
        """
        Args:
            clip_attend_all: temporal attention over all T·N frame queries (False: only the same query index).
            frame_ffn / clip_ffn: FFN after the frame branch / the clip update.
            recurrence: frame t starts from S^{t-1} (paper); False: from C_i in every frame (ablation).
            kwargs: :class:`VideoQueryDecoderBase` arguments.
        """
        super().__init__(**kwargs)
        self.clip_attend_all = clip_attend_all
        self.pe_layer = PositionEmbeddingSine(self.hidden_dim // 2, normalize=True)
        self.ifr_layers = nn.ModuleList(
            IFRLayer(
                d_model=self.hidden_dim,
                nhead=self.num_heads,
                dim_feedforward=self.dim_feedforward,
                dropout=self.dropout,
                pre_norm=self.pre_norm,
                frame_ffn=frame_ffn,
                clip_ffn=clip_ffn,
                recurrence=recurrence,
            )
            for _ in range(self.num_layers)
        )

    @classmethod
    def from_config(cls, cfg, *, in_channels: int, mask_dim: int) -> dict:
        ret = super().from_config(cfg, in_channels=in_channels, mask_dim=mask_dim)
        ifr = cfg.MODEL.IFR
        ret.update(
            clip_attend_all=ifr.CLIP_ATTEND_ALL,
            frame_ffn=ifr.FRAME_FFN,
            clip_ffn=ifr.CLIP_FFN,
            recurrence=ifr.RECURRENCE,
        )
        return ret

    def temporal_mask(self, num_frames: int, device: torch.device) -> torch.Tensor | None:
        """(N, T·N) bool: with ``clip_attend_all`` False, clip query q sees only frame queries of index q."""
        if self.clip_attend_all:
            return None
        n = self.num_queries
        return (torch.arange(num_frames * n, device=device) % n)[None, :] != torch.arange(n, device=device)[:, None]

    def forward(
        self, features: list[torch.Tensor], mask_features: torch.Tensor, *, num_frames: int, cross_frame: bool = False
    ) -> dict:
        """
        Args:
            features: 3 levels (B·T, C_in, h_l, w_l), low -> high resolution, frames of a clip consecutive.
            mask_features: (B·T, mask_dim, H/4, W/4).
            num_frames: T.
            cross_frame: also return ``pred_cross_masks``.

        Returns:
            ``pred_logits`` (B, N, K'), ``pred_masks`` (B, N, T, H/4, W/4), ``pred_embeds`` (B, N, d) normalised
            clip queries, optionally ``pred_cross_masks`` (B, N, T, T, H/4, W/4); in training ``aux_outputs``: the
            DEC_LAYERS - 1 earlier predictions (layer 0 first).
        """
        bt = mask_features.shape[0]
        if num_frames < 1 or bt % num_frames:
            raise ValueError(f"IFRTransformerDecoder: {bt} frames cannot form clips of num_frames={num_frames}")
        b = bt // num_frames
        levels = self.project_levels(features)
        sizes = [tuple(x.shape[-2:]) for x in levels]
        memory, memory_pos = self.frame_memory(levels, [self.pe_layer(x) for x in levels], b)
        readout = MaskReadout(mask_features, b)
        g = readout.g
        clip, query_pos = self.initial_queries(b)
        kernels = self.mask_kernels(clip)
        # Inference returns only the last prediction: the earlier ones are needed only as attention masks.
        full = self.training or cross_frame
        masks = readout.full(kernels) if full or self.num_layers == 0 else None
        predictions = [] if masks is None else [{"pred_logits": self.class_logits(clip), "pred_masks": masks}]
        temporal_mask = self.temporal_mask(num_frames, g.device)
        for i, layer in enumerate(self.ifr_layers):
            lvl = i % self.num_feature_levels
            attn = None
            if self.masked_attention:
                blocked = readout.blocked(kernels, sizes[lvl]) if masks is None else self.blocked_regions(masks, sizes[lvl])
                attn = [self.attention_mask(blocked[:, :, t]) for t in range(num_frames)]
            clip, frames = layer(clip, query_pos, memory[lvl], memory_pos[lvl], attn, temporal_mask)
            kernels = self.mask_kernels(frames)  # (T, N, B, mask_dim)
            masks = readout.full(kernels) if full or i == self.num_layers - 1 else None
            if masks is None:
                continue
            out = {"pred_logits": self.class_logits(clip), "pred_masks": masks}
            if cross_frame:
                out["pred_cross_masks"] = torch.einsum("tnbc,buchw->bntuhw", kernels, g)
            predictions.append(out)
        result = dict(predictions[-1])
        result["pred_embeds"] = self.decoder_norm(clip).transpose(0, 1)
        if self.training:
            result["aux_outputs"] = predictions[:-1]
        return result
