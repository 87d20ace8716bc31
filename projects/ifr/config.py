"""``add_ifr_config``: the ``MODEL.IFR.*`` keys (paper 003). Defaults are the paper / Mask2Former-VIS values.

Backbone (``MODEL.RESNETS`` / ``MODEL.SWIN``) and pixel decoder (``MODEL.PIXEL_DECODER``) keys are shared and
declared by ``vidseg.config``; ``MODEL.NUM_CLASSES`` is the one class count.
"""
from detectron2.config import CfgNode as CN

CLASS_LOSSES = ("ce", "focal")


def add_ifr_config(cfg: CN) -> None:
    """Declare ``MODEL.IFR`` (idempotent)."""
    if "IFR" in cfg.MODEL:
        return
    ifr = cfg.MODEL.IFR = CN()
    # False: the Mask2Former-VIS baseline: its decoder (queries attend to all frames at once), no cross-frame term
    # and, with CLASS_LOSS "auto", its softmax CE classification (configs/ifr/m2f_vis_*.yaml)
    ifr.ENABLED = True
    # ---- transformer decoder (Mask2Former-VIS dims)
    ifr.NUM_QUERIES = 100
    ifr.HIDDEN_DIM = 256
    ifr.NHEADS = 8
    ifr.DIM_FEEDFORWARD = 2048
    ifr.DROPOUT = 0.0
    ifr.PRE_NORM = False
    ifr.DEC_LAYERS = 10  # decoder layers + 1 (the prediction on the learnable queries)
    ifr.ENFORCE_INPUT_PROJ = False
    ifr.SIZE_DIVISIBILITY = 32
    # ---- IFR attention (§2.5)
    ifr.FRAME_FFN = True  # FFN after the frame branch (S_i^t)
    ifr.CLIP_FFN = True  # FFN after the clip update (C_{i+1})
    ifr.RECURRENCE = True  # False: every frame's queries start from C_i, not S^{t-1} (IFR without recurrence)
    ifr.CLIP_ATTEND_ALL = True  # temporal attention: every clip query sees all T·N frame queries (False: own index)
    ifr.ATTN_MASK_SOURCE = "prev_layer"  # masked attention from the previous layer's frame masks | "none"
    ifr.BASELINE_TEMPORAL_PE = True  # baseline decoder: 3D sine PE (False: per-frame 2D PE, frame-order agnostic)
    # ---- losses (§3)
    ifr.CLASS_LOSS = "auto"  # "focal" (K logits, paper §3.2) | "ce" (K+1 logits, Mask2Former) | "auto": focal
    # for IFR (ENABLED True), ce for the Mask2Former-VIS baseline (ENABLED False); see class_loss_of
    ifr.FOCAL_PRIOR_PROB = 0.01  # focal only: class bias init -log((1-p)/p) (DETR family); 0 = default Linear init
    ifr.FOCAL_ALPHA = 0.25
    ifr.FOCAL_GAMMA = 2.0
    ifr.NO_OBJECT_WEIGHT = 0.1  # CE only
    ifr.CLASS_WEIGHT = 2.0
    ifr.MASK_WEIGHT = 5.0
    ifr.DICE_WEIGHT = 5.0
    ifr.DEEP_SUPERVISION = True
    ifr.TRAIN_NUM_POINTS = 12544
    ifr.OVERSAMPLE_RATIO = 3.0
    ifr.IMPORTANCE_SAMPLE_RATIO = 0.75
    ifr.CROSS_FRAME_WEIGHT = 0.3  # λe
    # ---- inference (§5); TEST.CLIP_CHUNK sets the frames per backbone chunk
    ifr.TEST_MODE = "video"  # "video": whole video at once | "clip": sliding windows with id carry-over
    # | "frame": every frame alone, queries linked by vidseg.tracking.QueryMatchingTracker (MinVIS-style, with
    # MODEL.MOTION_PRIOR as its motion term)
    ifr.TEST_TOPK = 10  # (query, class) pairs kept per video
    ifr.TEST_WINDOW = 10  # clip mode: frames per window
    # clip mode: window step (the last window is aligned to the video end); 9 = one frame shared by consecutive
    # windows, enough to link them by mask IoU while the query decoder runs only 10/9 times per frame
    ifr.TEST_STRIDE = 9
    ifr.TEST_MATCH_THRESHOLD = 0.05  # clip mode: min soft mask IoU (overlapping windows) / cosine (disjoint)
    ifr.TEST_KEEP_SCORE = 0.05  # clip mode: a window's query must reach this class probability to be kept
    # ---- test-time augmentation (paper 003 §3.2; video mode): runs merged by matching to a pivot run
    ifr.TTA = CN()
    ifr.TTA.ENABLED = False
    ifr.TTA.MIN_SIZES = (360, 480, 600, 720)  # shorter sides (longer side <= INPUT.MAX_SIZE_TEST)
    ifr.TTA.FLIP = False  # also run every size flipped horizontally (the paper names sizes only)
    ifr.TTA.PIVOT_SEED = 0  # draws the pivot run and the matcher's points


def class_loss_of(cfg: CN) -> str:
    """The classification loss ``MODEL.IFR.CLASS_LOSS`` resolves to ("auto": focal with IFR, ce without)."""
    loss = cfg.MODEL.IFR.CLASS_LOSS
    if loss == "auto":
        return "focal" if cfg.MODEL.IFR.ENABLED else "ce"
    if loss not in CLASS_LOSSES:
        raise ValueError(f"MODEL.IFR.CLASS_LOSS: expected one of {CLASS_LOSSES + ('auto',)}, got {loss!r}")
    return loss
