"""``add_instflow_config``: the ``MODEL.INSTFLOW.*`` keys of Instance Flow Assembly (paper 002).

Defaults are the paper's settings; values the paper does not give follow Panoptic-DeepLab (spec §8). Backbone keys
(``MODEL.RESNETS.*``) are detectron2's; the DeepLab multi-grid of res5 is ``MODEL.INSTFLOW.RES5_MULTI_GRID``.
"""
from detectron2.config import CfgNode as CN

TCF_MODES = ("attention", "concat_convs")
FLOW_MODES = ("residual", "inter_avg")
SCORE_MODES = ("product", "semantic", "center")
THRESHOLD_MODES = ("diag_fraction", "pixels")


def add_instflow_config(cfg: CN) -> None:
    """Declare ``MODEL.INSTFLOW`` (idempotent)."""
    if "INSTFLOW" in cfg.MODEL:
        return
    f = cfg.MODEL.INSTFLOW = CN()
    f.RES5_MULTI_GRID = [1, 2, 4]  # per-block multipliers of MODEL.RESNETS.RES5_DILATION (DeepLab multi-grid)
    f.SEM_MULTI_LEVEL = True  # Panoptic-FPN-style sum of the s16/s8/s4 decoder outputs before the semantic head
    # ---- decoders (Panoptic-DeepLab values, spec §2.4-2.6)
    f.ASPP_CHANNELS = 256
    f.ASPP_DILATIONS = [6, 12, 18]
    f.ASPP_DROPOUT = 0.1
    f.PROJECT_CHANNELS = [32, 64]  # res2, res3 skip projections
    f.SEM_CONVS_DIM = 256
    f.SEM_HEAD_CHANNELS = 256
    f.INS_CONVS_DIM = 128
    f.INS_HEAD_CHANNELS = 32
    f.NORM = "BN"
    # ---- targets (spec §3.2)
    f.GAUSSIAN_SIGMA = 8.0
    f.SMALL_INSTANCE_AREA = 1024
    f.SMALL_INSTANCE_WEIGHT = 3.0
    f.SMALL_INSTANCE_WEIGHT_SEM = False
    f.CENTER_LOSS_ON_BACKGROUND = False
    f.OFFSET_LOSS_ON_BACKGROUND = False
    # ---- losses (spec §4.1)
    f.SEM_LOSS_TOP_K = 1.0  # hard-pixel mining fraction (1.0 = plain CE)
    f.SEM_LOSS_WEIGHT = 1.0
    f.CENTER_LOSS_WEIGHT = 100.0
    f.INTRA_OFFSET_LOSS_WEIGHT = 0.01
    f.INTER_OFFSET_LOSS_WEIGHT = 0.01
    f.SHAPE_LOSS_WEIGHT = 0.01
    f.INTER_ENABLED = True  # False: image-only stage 1 (no inter-frame decoder losses)
    # ---- temporal context fusion (spec §2.7)
    f.TCF = CN()
    f.TCF.MODE = "attention"  # "attention" | "concat_convs" (paper Table II ablation: no attention)
    f.TCF.NUM_HEADS = 1
    f.TCF.POS_ENCODING = "sine"  # "sine" | "none"
    f.TCF.POS_ON_VALUE = True
    f.TCF.ZERO_INIT = True
    f.TCF.QUERY_CHUNK = 0
    # ---- inference (spec §5)
    f.INFERENCE = CN()
    f.INFERENCE.CENTER_THRESHOLD = 0.15
    f.INFERENCE.NMS_KERNEL = 41
    f.INFERENCE.TOP_K = 200
    f.INFERENCE.TEST_SCALES = [1.0]  # paper: [0.5, 0.75, 1.0] (configs/instflow/r50_ms.yaml)
    f.INFERENCE.USE_FIRST_FRAME_REF = True
    f.INFERENCE.NUM_ADJACENT_REFS = 3
    f.INFERENCE.FLOW_MODE = "residual"
    f.INFERENCE.FLOW_SAMPLE_STRIDE = 4
    f.INFERENCE.MATCH_THRESHOLD = 0.1
    f.INFERENCE.MATCH_THRESHOLD_MODE = "diag_fraction"
    f.INFERENCE.SCORE_MODE = "product"
    f.INFERENCE.MAX_TRACKS_PER_VIDEO = 100
    f.INFERENCE.TRACKER = "InstanceFlowTracker"  # or "MaskIoUTracker" (plain mask-IoU linking of the same frames)
