"""``add_moseg_config``: the ``MODEL.MOSEG.*`` keys of the two-stream moving-object Mask R-CNN (paper 001)."""
from detectron2.config import CfgNode as CN


def add_moseg_config(cfg: CN) -> None:
    """Declare ``MODEL.MOSEG`` with the final joint model's defaults (paper 001)."""
    m = cfg.MODEL.MOSEG = CN()
    m.STREAMS = "two_stream"  # two_stream | appearance (RGB only, stage A) | motion (flow only, stage B)
    m.MOTION_PIXEL_MEAN = [0.0, 0.0, 0.0]  # the flow encoding is fed with zero mean, unit std
    m.MOTION_PIXEL_STD = [1.0, 1.0, 1.0]
    m.FUSION = CN()
    m.FUSION.NUM_CONVS = 3  # concat(A, M) -> NUM_CONVS x (conv + ReLU), one adaptor shared by all levels
    m.FUSION.CONV_DIM = 256  # must equal MODEL.FPN.OUT_CHANNELS
    m.FUSION.KERNEL_SIZE = 3
    m.RPN_FEATURES = "fused"  # fused | appearance | motion (two_stream only)
    m.BOX_FEATURES = "fused"
    m.MASK_FEATURES = "appearance"
    m.FREEZE_APPEARANCE_BACKBONE = True  # ResNet + FPN of the appearance stream
    m.FREEZE_MOTION_BACKBONE = True  # ResNet + FPN of the motion stream
    m.FREEZE_MASK_HEAD = True  # mask head + predictor
    m.FREEZE_RPN = False
    m.FREEZE_BOX_HEAD = False
    m.APPEARANCE_WEIGHTS = ""  # stage-A checkpoint: appearance backbone + RPN/box/mask heads (+ static branch)
    m.MOTION_WEIGHTS = ""  # stage-B checkpoint: only its backbone is used
    m.STATIC_BRANCH = CN()
    m.STATIC_BRANCH.ENABLED = False  # appearance-only RPN + box head on A at inference (tracks static objects)
    m.STATIC_BRANCH.WEIGHTS = ""  # "" = APPEARANCE_WEIGHTS
    m.STATIC_BRANCH.SCORE_THRESH_TEST = 0.05
    m.STATIC_BRANCH.NMS_THRESH_TEST = 0.5
    m.STATIC_BRANCH.DETECTIONS_PER_IMAGE = 100
    m.MISSING_FLOW = "static_only"  # frame without flow: static_only (official) | repeat_previous
    m.INFERENCE_OUTPUT = "tracks"  # tracks (tracker) | fgbg (per-frame union of moving detections, DAVIS-16)
    m.FGBG_SCORE_THRESH = 0.7  # fgbg: moving detections scoring strictly above this form the foreground
    m.TINY_BACKBONE = CN()  # BACKBONE.NAME "build_moseg_tiny_fpn_backbone" (CPU tests / benchmark)
    m.TINY_BACKBONE.CHANNELS = [16, 32, 64, 128]  # res2..res5
    m.TINY_BACKBONE.NORM = "GN"
