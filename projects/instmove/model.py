"""``InstMoveNet``: the forward pass (paper 000 §3) over the blocks of :mod:`.network`."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from detectron2.config import CfgNode
from torch import nn

from .config import check_instmove_config
from .network import ConvLSTM, FusionGate, ImageEncoder, MaskDecoder, MaskEncoder, MotionMemory

__all__ = ["InstMoveNet", "InstMoveOutput", "build_instmove_net"]


@dataclass
class InstMoveOutput:
    logits: torch.Tensor  # (B, 1, S, S) next-frame mask logits
    weights: torch.Tensor  # (B·(S/16)², c) memory addressing weights
    readout: torch.Tensor  # (B, l, S/16, S/16) recalled motion before the embedder
    query: torch.Tensor | None = None


class InstMoveNet(nn.Module):
    """Predicts the mask of one instance at frame t from its masks at t−n … t−1 (and optionally image t).

    ``forward(past, target=None, image=None, phase=2)``: ``past`` (B, n, S, S) or (B, n, 1, S, S) floats in
    {0, 1}; phase 1 (training step 1) also needs ``target`` (B, S, S) and lets the context encoder q_φ see it;
    phase 2 (training step 2 and inference) uses the matching encoder p_θ and ignores ``target``.
    """

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__()
        check_instmove_config(cfg)
        im = cfg.MODEL.INSTMOVE
        self.size = int(im.INPUT_SIZE)
        lstm_c = int(im.LSTM_CHANNELS)
        self.mask_encoder = MaskEncoder(im.MASK_ENCODER_CHANNELS)
        self.convlstm = ConvLSTM(int(im.LSTM_LAYERS), lstm_c, int(im.LSTM_KERNEL))
        self.memory = MotionMemory(int(im.MEMORY_SLOTS), int(im.MEMORY_DIM), im.MOTION_ENCODER_CHANNELS,
                                   im.MOTION_ENCODER_POOL_AFTER, im.EMBEDDER_CHANNELS)
        self.gate = FusionGate(2 * lstm_c, int(im.GATE_HIDDEN), lstm_c)
        self.image_encoder = None
        if im.IMAGE_ENCODER != "none":
            self.image_encoder = ImageEncoder(im.IMAGE_ENCODER_WEIGHTS, trainable=im.IMAGE_ENCODER == "trainable")
        image_channels = ImageEncoder.channels if self.image_encoder is not None else None
        self.decoder = MaskDecoder(im.DECODER_CHANNELS, image_channels, im.DECODER_BLOCK)
        self.train_bank = True  # False during training step 2 (the bank then gets no gradient)

    def _check(self, past: torch.Tensor) -> torch.Tensor:
        if past.dim() == 5:
            past = past[:, :, 0]
        if past.dim() != 4 or past.shape[-1] != past.shape[-2]:
            raise ValueError(f"InstMoveNet: past must be (B, n, S, S), got {tuple(past.shape)}")
        s = past.shape[-1]
        if s % 16:
            raise ValueError(f"InstMoveNet: canvas side {s} is not divisible by 16 (MODEL.INSTMOVE.INPUT_SIZE)")
        if past.shape[1] < 2:
            raise ValueError(f"InstMoveNet: needs at least 2 past masks, got {past.shape[1]}")
        return past.float()

    def forward(self, past: torch.Tensor, target: torch.Tensor | None = None, image: torch.Tensor | None = None,
                phase: int = 2) -> InstMoveOutput:
        past = self._check(past)
        if phase == 1:
            if target is None:
                raise ValueError("InstMoveNet: phase 1 (training step 1) needs the target mask")
            seq = torch.cat([past, target.reshape(past.shape[0], 1, *past.shape[-2:]).float()], dim=1)
        elif phase == 2:
            seq = past
        else:
            raise ValueError(f"InstMoveNet: phase must be 1 or 2, got {phase}")
        motion, readout, weights = self.memory(seq, phase, train_bank=self.train_bank)
        feats = [self.mask_encoder(past[:, j : j + 1]) for j in range(past.shape[1])]
        h, c = self.convlstm(feats)
        gate = self.gate(c, motion)
        fused = torch.cat([h, motion * gate[:, :, None, None]], dim=1)
        res2 = res3 = None
        if self.image_encoder is not None:
            if image is None:
                raise ValueError("InstMoveNet: this model has an image encoder (MODEL.INSTMOVE.IMAGE_ENCODER); "
                                 "pass the image of the predicted frame")
            res2, res3 = self.image_encoder(image)
        return InstMoveOutput(self.decoder(fused, res2, res3), weights, readout)


def build_instmove_net(cfg: CfgNode) -> InstMoveNet:
    return InstMoveNet(cfg)
