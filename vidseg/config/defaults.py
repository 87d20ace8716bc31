"""Keys shared by all methods (``docs/architecture.md``). Project adders only add ``MODEL.<METHOD>.*``."""
from detectron2.config import CfgNode as CN


def add_vidseg_config(cfg: CN) -> None:
    # ---- input / mappers
    cfg.INPUT.CLIP = CN()
    cfg.INPUT.CLIP.NUM_FRAMES = 2  # frames per training clip
    cfg.INPUT.CLIP.SAMPLING_RANGE = 20  # max |t_i - t_ref| of sampled frames
    cfg.INPUT.CLIP.SAMPLING_SHUFFLE = False  # shuffle frame order inside a clip
    cfg.INPUT.CLIP.CROP_ENABLED = False  # random crop, drawn once per clip (uses INPUT.CROP.*)
    cfg.INPUT.CLIP.SKIP_EMPTY = False  # mappers return None for a clip without objects (loader redraws)
    cfg.INPUT.CLIP.MAX_OBJECTS = 0  # keep a random subset of at most this many objects per clip (0 = all)
    cfg.INPUT.CLIP.PSEUDO_SCALE = (0.8, 1.2)  # ImageToClipMapper: per-frame affine scale range
    cfg.INPUT.CLIP.PSEUDO_ROTATION = 10.0  # ImageToClipMapper: max |rotation| in degrees per frame
    cfg.INPUT.CLIP.PSEUDO_TRANSLATION = 0.1  # ImageToClipMapper: max |shift| as a fraction of width/height
    cfg.INPUT.MAPPER = CN()
    cfg.INPUT.MAPPER.TRAIN = "VideoClipMapper"  # MAPPER_REGISTRY names
    cfg.INPUT.MAPPER.TEST = "VideoTestMapper"
    cfg.INPUT.FLOW = CN()
    cfg.INPUT.FLOW.ENCODING = "angle_magnitude"
    cfg.INPUT.FLOW.SOURCE = "precomputed"  # precomputed (record's flow_file_names) | dis | farneback (cached .flo)
    cfg.INPUT.FLOW.DIS_PRESET = "medium"  # ultrafast | fast | medium
    cfg.INPUT.FLOW.CACHE_ROOT = ""  # "" = estimated flow cached next to the frames (<frame dir>/flow_<method>/)
    cfg.INPUT.FLOW.MAG_SCALE = 6.0  # magnitude channel = MAG_SCALE * min(|f|, diag) / diag
    cfg.INPUT.FLOW.ANGLE_SCALE = 255.0  # angle channel maps [-pi, pi] onto [0, ANGLE_SCALE]
    cfg.INPUT.FLOW.LOW_MAGNITUDE_THRESHOLD = 0.0  # pixels; angle set to 0 below it (0 = off)
    cfg.INPUT.FLOW.EMULATE_PNG_QUANTIZATION = False  # reproduce the official uint8 PNG + min/max storage
    cfg.INPUT.FLOW.FLIP_MODE = "correct"  # correct (negate u) | naive (official: mirror the encoded image)
    cfg.INPUT.FLOW.RESIZE_MODE = "raw"  # raw (resize + scale vectors, then encode) | encoded (official)
    # ---- model
    cfg.MODEL.NUM_CLASSES = 40  # the one class count every head reads (dataset base yaml sets it)
    # fraction of the model's weight elements a full checkpoint (--eval-only, --resume, a vidseg checkpoint as
    # MODEL.WEIGHTS) may leave unloaded (missing or of another shape); raise it to fine-tune on another class set
    cfg.MODEL.WEIGHTS_MAX_UNLOADED = 0.0
    cfg.MODEL.TRACKER = CN()
    cfg.MODEL.TRACKER.NAME = "MaskIoUTracker"  # TRACKER_REGISTRY name
    cfg.MODEL.TRACKER.SCORE_INIT = 0.9  # a detection must score > this to start a track
    cfg.MODEL.TRACKER.SCORE_CONTINUE = 0.7  # detections scoring <= this are dropped
    cfg.MODEL.TRACKER.IOU_MIN = 0.1  # link only if mask IoU > this
    cfg.MODEL.TRACKER.FRAMES_SKIP_MAX = 10  # t_inactive: largest gap a track may bridge
    cfg.MODEL.TRACKER.BIDIRECTIONAL = True  # forward pass then backward pass
    cfg.MODEL.TRACKER.STATIC_OVERLAP_REMOVE = 0.1  # drop static det with IoU >= this vs a moving det
    cfg.MODEL.TRACKER.MIN_TRACK_LENGTH = 1  # drop tracks with fewer detections
    # ---- motion prior used by the trackers (vidseg/tracking/motion.py; MOTION_PRIOR_REGISTRY)
    cfg.MODEL.MOTION_PRIOR = CN()
    cfg.MODEL.MOTION_PRIOR.NAME = "none"  # none | copy_last | linear | any registered prior (e.g. instmove)
    cfg.MODEL.MOTION_PRIOR.WEIGHT = 1.0  # λ of the cost term λ·(1 − IoU(predicted, candidate))
    cfg.MODEL.MOTION_PRIOR.HISTORY = 8  # past masks kept per track (at least what the prior needs)
    # ---- Swin backbone (vidseg/modeling/backbone/swin.py; dims come from the variant table there)
    cfg.MODEL.SWIN = CN()
    cfg.MODEL.SWIN.VARIANT = "tiny_224"  # tiny_224 | small_224 | base_224 | base_384 | large_224 | large_384
    cfg.MODEL.SWIN.WEIGHTS = ""  # local ImageNet checkpoint (.pth/.pt/.pkl/.safetensors), "" = random init
    cfg.MODEL.SWIN.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.SWIN.DROP_PATH_RATE = 0.3
    cfg.MODEL.SWIN.USE_CHECKPOINT = False  # activation checkpointing of the Swin blocks
    # ---- Mask2Former pixel decoders (vidseg/modeling/pixel_decoder; PIXEL_DECODER_REGISTRY)
    cfg.MODEL.PIXEL_DECODER = CN()
    cfg.MODEL.PIXEL_DECODER.NAME = "MSDeformAttnPixelDecoder"  # or BasePixelDecoder (plain FPN)
    cfg.MODEL.PIXEL_DECODER.CONV_DIM = 256
    cfg.MODEL.PIXEL_DECODER.MASK_DIM = 256
    cfg.MODEL.PIXEL_DECODER.NORM = "GN"
    cfg.MODEL.PIXEL_DECODER.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.PIXEL_DECODER.DEFORM_IN_FEATURES = ["res3", "res4", "res5"]  # levels of the deformable encoder
    cfg.MODEL.PIXEL_DECODER.ENCODER_LAYERS = 6
    cfg.MODEL.PIXEL_DECODER.NUM_HEADS = 8
    cfg.MODEL.PIXEL_DECODER.NUM_POINTS = 4
    cfg.MODEL.PIXEL_DECODER.COMMON_STRIDE = 4  # stride of the mask features
    cfg.MODEL.PIXEL_DECODER.DIM_FEEDFORWARD = 1024
    cfg.MODEL.PIXEL_DECODER.DROPOUT = 0.0
    # ---- data
    cfg.DATASETS.TRAIN_MAPPERS = ()  # per DATASETS.TRAIN entry; empty = INPUT.MAPPER.TRAIN for all
    cfg.DATASETS.TRAIN_RATIOS = ()  # sampling ratio per DATASETS.TRAIN entry; empty = proportional to size
    # ---- solver
    cfg.SOLVER.OPTIMIZER = "ADAMW"  # ADAMW | SGD
    cfg.SOLVER.FUSED = True  # AdamW's fused kernel (same update up to float rounding; ~4x faster step on CPU)
    cfg.SOLVER.LR_MULTIPLIERS = ()  # ((module-name prefix, factor), ...), e.g. (("backbone", 0.1),)
    cfg.SOLVER.WEIGHT_DECAY_EMBED = 0.0
    # ---- test
    cfg.TEST.EVALUATORS = ()  # EVALUATOR_REGISTRY names; empty = dataset metadata evaluator_type
    cfg.TEST.CLIP_CHUNK = 0  # frames per backbone chunk at inference (0 = whole video)
    cfg.TEST.MAX_FRAMES_WHOLE = 100  # longer videos are segmented window by window by video-level models (0 = never)
    cfg.TEST.AMP = False
    cfg.TEST.VIS_VIDEOS = 0  # write an overlay GIF for the first N test videos
    cfg.TEST.VIS_FORMAT = "gif"  # gif | mp4: file type of those overlays
    # ---- streaming semi-supervised VOS inference (vidseg/vos: VOSEngine memory manager, TTAEngine)
    cfg.TEST.VOS = CN()
    cfg.TEST.VOS.MEM_EVERY = 5  # memorise a frame when this many frames passed since the last memorised one
    cfg.TEST.VOS.MAX_MEMORY = 16  # memory entries, the pinned first frame included (64: long videos)
    cfg.TEST.VOS.PIN_FIRST_FRAME = True
    cfg.TEST.VOS.PIN_ANNOTATED_FRAMES = True  # frames with given masks (objects entering late) are never evicted
    cfg.TEST.VOS.MAX_OBJECTS = 0  # more objects (palette ids above it) are an error; 0 = no limit
    cfg.TEST.VOS.FLIP = False  # also run a horizontally flipped pass and average the probabilities
    cfg.TEST.VOS.SCALES = []  # shorter sides of extra multi-scale passes (probabilities averaged)
