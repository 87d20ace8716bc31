"""``add_instmove_config``: the ``MODEL.INSTMOVE.*`` keys (paper 000).

Defaults reproduce the official checkpoint layout (paper 000, official code) and the paper's recipe; where the
paper's text differs (3 ConvLSTM layers, 256-d memory, ...) the paper's value is reachable through these keys.
"""
from detectron2.config import CfgNode as CN

IMAGE_ENCODERS = ("trainable", "frozen", "none")
STEP2_TRAINABLE = ("matching_encoder", "all_but_memory")


def add_instmove_config(cfg: CN) -> None:
    """Declare ``MODEL.INSTMOVE`` (idempotent)."""
    if "INSTMOVE" in cfg.MODEL:
        return
    im = cfg.MODEL.INSTMOVE = CN()
    im.INPUT_SIZE = 384  # canvas S (pad-to-square, §2); divisible by 16
    im.MASK_ENCODER_CHANNELS = (64, 64, 128, 128)  # E_m: four convs, strides 2,1,2,1
    im.LSTM_LAYERS = 4  # official code (paper: 3)
    im.LSTM_CHANNELS = 128
    im.LSTM_KERNEL = 3
    im.MOTION_ENCODER_CHANNELS = (64, 128, 256, 256, 512, 512)  # q_φ / p_θ Conv3d widths (paper: 3 layers)
    im.MOTION_ENCODER_POOL_AFTER = (0, 1, 3, 5)  # spatial (1,2,2) max-pool after these conv indices
    im.MEMORY_SLOTS = 100
    im.MEMORY_DIM = 512  # must equal the last motion-encoder width (paper text: 256)
    im.GATE_HIDDEN = 16
    im.EMBEDDER_CHANNELS = (256, 128)  # two stride-2 transposed convs after the bank; last = LSTM_CHANNELS
    im.DECODER_CHANNELS = (256, 128, 64, 64)  # stride-4 block, stride-2 block, two transposed convs
    im.DECODER_BLOCK = "residual"  # "residual" (official RB) | "conv" (3×3 conv + ReLU, InstMove README reduced model)
    im.IMAGE_ENCODER = "trainable"  # "trainable" | "frozen" | "none" (paper Tab. 7)
    im.IMAGE_ENCODER_WEIGHTS = ""  # local torchvision ResNet-50 state dict; "" = random init (no downloads)
    im.MASK_THRESHOLD = 0.5  # sigmoid probability of a predicted pixel
    im.MIN_INPUT_FRAMES = 2
    im.MAX_INPUT_FRAMES = 4
    # ---- the two-step iteration (§4.2); SOLVER.MAX_ITER counts optimiser steps (2 per InstMove iteration)
    im.STEP2_TRAINABLE = "matching_encoder"  # paper; "all_but_memory" = LMC-Memory lineage
    im.LOSS = CN()
    im.LOSS.FOCAL_WEIGHT = 1.0
    im.LOSS.DICE_WEIGHT = 5.0
    im.LOSS.FOCAL_ALPHA = 0.25
    im.LOSS.FOCAL_GAMMA = 2.0
    # ---- use as a motion prior (MODEL.MOTION_PRIOR.NAME "instmove"; InstMove README)
    im.WEIGHTS = ""  # trained InstMove checkpoint (ours or the official layout, converted on load)
    im.INFER_WINDOWS = ((2, 2), (4, 4))  # (from history length, use this many masks): official schedule
    im.GAPS = "ignore"  # frames a track missed: "ignore" = spec §5.3 as is, "roll" = fill them by the prior's own predictions
    im.MAX_ROLL = 10  # most frames filled per prediction ("roll")
    im.TOPK = 20  # only the top-k tracks (by score, when the host gives one) are predicted
    im.DEVICE = ""  # "" = MODEL.DEVICE
    inp = im.DATA = CN()  # InstMove README's INPUT.INSTMOVE.* (kept inside MODEL.INSTMOVE: one namespace per method)
    inp.CLIP_LENGTH_RANGE = (3, 5)  # inputs + target (appendix A)
    inp.FRAME_STRIDE = 1
    inp.RANDOM_FLIP = True
    inp.OCCLUSION_SIM = CN()
    inp.OCCLUSION_SIM.ENABLED = False
    inp.OCCLUSION_SIM.BAND_PROB = 0.3
    inp.OCCLUSION_SIM.DROP_PROB = 0.1
    inp.MAX_TRIES = 10  # samples drawn from one record before the mapper gives up (the loader then retries)


def check_instmove_config(cfg: CN) -> None:
    """One-line errors naming the key for values the network cannot be built with."""
    im = cfg.MODEL.INSTMOVE
    if im.INPUT_SIZE % 16:
        raise ValueError(f"MODEL.INSTMOVE.INPUT_SIZE: must be divisible by 16, got {im.INPUT_SIZE}")
    if im.IMAGE_ENCODER not in IMAGE_ENCODERS:
        raise ValueError(f"MODEL.INSTMOVE.IMAGE_ENCODER: expected one of {IMAGE_ENCODERS}, got {im.IMAGE_ENCODER!r}")
    if im.STEP2_TRAINABLE not in STEP2_TRAINABLE:
        raise ValueError(
            f"MODEL.INSTMOVE.STEP2_TRAINABLE: expected one of {STEP2_TRAINABLE}, got {im.STEP2_TRAINABLE!r}"
        )
    if im.MEMORY_DIM != im.MOTION_ENCODER_CHANNELS[-1]:
        raise ValueError(
            f"MODEL.INSTMOVE.MEMORY_DIM: must equal the last MOTION_ENCODER_CHANNELS ({im.MOTION_ENCODER_CHANNELS[-1]}),"
            f" got {im.MEMORY_DIM}"
        )
    if len(im.MOTION_ENCODER_POOL_AFTER) != 4:
        raise ValueError(f"MODEL.INSTMOVE.MOTION_ENCODER_POOL_AFTER: expected 4 conv indices (stride 16), "
                         f"got {im.MOTION_ENCODER_POOL_AFTER}")
    if im.EMBEDDER_CHANNELS[-1] != im.LSTM_CHANNELS or len(im.EMBEDDER_CHANNELS) != 2:
        raise ValueError(f"MODEL.INSTMOVE.EMBEDDER_CHANNELS: expected 2 widths ending in LSTM_CHANNELS "
                         f"({im.LSTM_CHANNELS}), got {im.EMBEDDER_CHANNELS}")
    if len(im.MASK_ENCODER_CHANNELS) != 4 or im.MASK_ENCODER_CHANNELS[-1] != im.LSTM_CHANNELS:
        raise ValueError(f"MODEL.INSTMOVE.MASK_ENCODER_CHANNELS: expected 4 widths ending in LSTM_CHANNELS "
                         f"({im.LSTM_CHANNELS}), got {im.MASK_ENCODER_CHANNELS}")
    if len(im.DECODER_CHANNELS) != 4 or im.DECODER_CHANNELS[0] != 2 * im.LSTM_CHANNELS:
        raise ValueError(f"MODEL.INSTMOVE.DECODER_CHANNELS: expected 4 widths starting with 2·LSTM_CHANNELS "
                         f"({2 * im.LSTM_CHANNELS}), got {im.DECODER_CHANNELS}")
    if im.DECODER_BLOCK not in ("residual", "conv"):
        raise ValueError(f"MODEL.INSTMOVE.DECODER_BLOCK: expected 'residual' or 'conv', got {im.DECODER_BLOCK!r}")
    if not 2 <= im.MIN_INPUT_FRAMES <= im.MAX_INPUT_FRAMES:
        raise ValueError(f"MODEL.INSTMOVE.MIN_INPUT_FRAMES/MAX_INPUT_FRAMES: need 2 <= min <= max, got "
                         f"{im.MIN_INPUT_FRAMES}, {im.MAX_INPUT_FRAMES}")
