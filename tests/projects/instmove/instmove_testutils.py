"""Configs of the reduced InstMove model of InstMove README (same topology, small widths)."""
from vidseg.config import get_cfg


def reduced_cfg(size: int = 32, **overrides):
    cfg = get_cfg()
    im = cfg.MODEL.INSTMOVE
    im.INPUT_SIZE = size
    im.MASK_ENCODER_CHANNELS = (8, 8, 16, 16)
    im.LSTM_LAYERS = 2
    im.LSTM_CHANNELS = 16
    im.MOTION_ENCODER_CHANNELS = (8, 16, 32, 32, 64, 64)
    im.MEMORY_SLOTS = 20
    im.MEMORY_DIM = 64
    im.EMBEDDER_CHANNELS = (32, 16)
    im.GATE_HIDDEN = 8
    im.DECODER_CHANNELS = (32, 16, 8, 8)
    im.DECODER_BLOCK = "conv"
    im.IMAGE_ENCODER = "none"
    for k, v in overrides.items():
        setattr(im, k, v)
    cfg.MODEL.DEVICE = "cpu"
    return cfg
