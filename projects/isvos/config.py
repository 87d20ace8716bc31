"""``add_isvos_config``: the ``MODEL.ISVOS.*`` keys of ISVOS (paper 004).

The instance branch reads the shared keys: backbone (``MODEL.RESNETS``), pixel decoder (``MODEL.PIXEL_DECODER``)
and ``MODEL.NUM_CLASSES``; its transformer decoder and set loss are under ``MODEL.ISVOS.IS_BRANCH``.
"""
from detectron2.config import CfgNode as CN

REF_POINT_MODES = ("linear", "mask_centroid")
VALUE_ENCODERS = ("resnet18", "tiny")


def add_isvos_config(cfg: CN) -> None:
    """Declare ``MODEL.ISVOS`` (idempotent)."""
    if "ISVOS" in cfg.MODEL:
        return
    c = cfg.MODEL.ISVOS = CN()
    c.KEY_DIM = 64  # C_k
    c.VALUE_DIM = 512  # C_v
    c.KEY_HIDDEN_DIM = 256  # C_h of Q_g (= IS_BRANCH.HIDDEN_DIM)
    c.KEY_IN_FEATURE = "res4"
    c.QUERY_ENHANCE = True  # QE ablation switch (paper Tab. 3)
    c.QE = CN()
    c.QE.DEFORM_HEADS = 8
    c.QE.DEFORM_POINTS = 4
    c.QE.FFN_DIM = 1024  # 0 disables the FFN sublayer
    c.QE.REF_POINTS = "linear"  # "linear" | "mask_centroid"
    c.QE.USE_QUERY_POS = True
    c.KEY_PROJ_KERNEL = 3
    c.VALUE_ENCODER = CN()
    c.VALUE_ENCODER.NAME = "resnet18"  # "resnet18" (torchvision, 5-channel input) | "tiny" (tests)
    c.VALUE_ENCODER.WEIGHTS = ""  # local torchvision ResNet-18 state dict; random init if empty
    c.VALUE_ENCODER.TINY_DIM = 32  # "tiny" only: width of its 1/16 output
    c.VALUE_ENCODER.FUSE_FEATURE = "res4"
    c.MPF = CN()
    c.MPF.ENABLED = True  # MPF ablation switch (paper Tab. 3)
    c.MPF.BACKBONE_FEATURES = ["res4", "res3", "res2"]
    c.MPF.CHANNELS = [512, 256, 256]
    # ---- instance branch (Mask2Former image decoder + set loss, spec §2.2 / §3.2)
    c.IS_BRANCH = CN()
    c.IS_BRANCH.NUM_QUERIES = 100
    c.IS_BRANCH.HIDDEN_DIM = 256
    c.IS_BRANCH.NHEADS = 8
    c.IS_BRANCH.DIM_FEEDFORWARD = 2048
    c.IS_BRANCH.DEC_LAYERS = 10  # layers + 1 (the prediction of the learnable queries)
    c.IS_BRANCH.PRE_NORM = False
    c.IS_BRANCH.CLASS_WEIGHT = 2.0
    c.IS_BRANCH.MASK_WEIGHT = 5.0
    c.IS_BRANCH.DICE_WEIGHT = 5.0
    c.IS_BRANCH.NO_OBJECT_WEIGHT = 0.1
    c.IS_BRANCH.TRAIN_NUM_POINTS = 12544
    c.IS_BRANCH.OVERSAMPLE_RATIO = 3.0
    c.IS_BRANCH.IMPORTANCE_SAMPLE_RATIO = 0.75
    c.IS_BRANCH.LR_MULTIPLIER = 0.1  # applied through SOLVER.LR_MULTIPLIERS by configs/isvos/base.yaml
    c.IS_BRANCH.JOINT_TRAIN = True  # IS set loss on the training frames' instances
    c.IS_BRANCH.LOSS_WEIGHT = 1.0
    c.SIZE_DIVISIBILITY = 32
    # ---- VOS loss (spec §3.1)
    c.LOSS = CN()
    c.LOSS.CE_WEIGHT = 1.0
    c.LOSS.DICE_WEIGHT = 1.0
    c.LOSS.BOOT_START_WARM = 20000
    c.LOSS.BOOT_END_WARM = 70000
    c.LOSS.BOOT_TOP_P = 0.15
    c.TRAIN = CN()
    c.TRAIN.NUM_REF_FRAMES = 3
    c.TRAIN.MAX_JUMP = 5  # frame sampler: max skip between chosen frames (XMem curriculum start)
    c.TRAIN.YTVOS_SKIP_DIVISOR = 1  # 5 for YouTube-VOS (annotations every 5th frame)
    # ---- memory read (spec §2.6); the memory manager keys (MEM_EVERY, MAX_MEMORY, pinning, object limit,
    # flip / multi-scale) are the engine's TEST.VOS.* (vidseg/vos)
    c.MEMORY = CN()
    c.MEMORY.TOP_K = 20  # 0 = full softmax
