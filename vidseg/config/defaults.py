"""Keys shared by all methods (ARCHITECTURE.md §4). Project adders only add ``MODEL.<METHOD>.*``."""
from detectron2.config import CfgNode as CN


def add_vidseg_config(cfg: CN) -> None:
    # ---- input / mappers
    cfg.INPUT.CLIP = CN()
    cfg.INPUT.CLIP.NUM_FRAMES = 2  # frames per training clip
    cfg.INPUT.CLIP.SAMPLING_RANGE = 20  # max |t_i - t_ref| of sampled frames
    cfg.INPUT.CLIP.SAMPLING_SHUFFLE = False  # shuffle frame order inside a clip
    cfg.INPUT.CLIP.CROP_ENABLED = False  # random crop, drawn once per clip (uses INPUT.CROP.*)
    cfg.INPUT.MAPPER = CN()
    cfg.INPUT.MAPPER.TRAIN = "VideoClipMapper"  # MAPPER_REGISTRY names
    cfg.INPUT.MAPPER.TEST = "VideoTestMapper"
    cfg.INPUT.FLOW = CN()
    cfg.INPUT.FLOW.ENCODING = "angle_magnitude"
    # ---- model
    cfg.MODEL.NUM_CLASSES = 40  # the one class count every head reads (dataset base yaml sets it)
    cfg.MODEL.TRACKER = CN()
    cfg.MODEL.TRACKER.NAME = "MaskIoUTracker"  # TRACKER_REGISTRY name
    cfg.MODEL.TRACKER.SCORE_INIT = 0.9  # a detection must score > this to start a track
    cfg.MODEL.TRACKER.SCORE_CONTINUE = 0.7  # detections scoring <= this are dropped
    cfg.MODEL.TRACKER.IOU_MIN = 0.1  # link only if mask IoU > this
    cfg.MODEL.TRACKER.FRAMES_SKIP_MAX = 10  # t_inactive: largest gap a track may bridge
    cfg.MODEL.TRACKER.BIDIRECTIONAL = True  # forward pass then backward pass
    cfg.MODEL.TRACKER.STATIC_OVERLAP_REMOVE = 0.1  # drop static det with IoU >= this vs a moving det
    cfg.MODEL.TRACKER.MIN_TRACK_LENGTH = 1  # drop tracks with fewer detections
    # ---- data
    cfg.DATASETS.TRAIN_MAPPERS = ()  # per DATASETS.TRAIN entry; empty = INPUT.MAPPER.TRAIN for all
    cfg.DATASETS.TRAIN_RATIOS = ()  # sampling ratio per DATASETS.TRAIN entry; empty = proportional to size
    # ---- solver
    cfg.SOLVER.OPTIMIZER = "ADAMW"  # ADAMW | SGD
    cfg.SOLVER.LR_MULTIPLIERS = ()  # ((module-name prefix, factor), ...), e.g. (("backbone", 0.1),)
    cfg.SOLVER.WEIGHT_DECAY_EMBED = 0.0
    # ---- test
    cfg.TEST.EVALUATORS = ()  # EVALUATOR_REGISTRY names; empty = dataset metadata evaluator_type
    cfg.TEST.CLIP_CHUNK = 0  # frames per backbone chunk at inference (0 = whole video)
    cfg.TEST.AMP = False
    cfg.TEST.VIS_VIDEOS = 0  # write an overlay GIF for the first N test videos
