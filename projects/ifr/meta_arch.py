"""``IFR`` meta-architecture: backbone -> pixel decoder -> video query decoder -> set losses / video outputs.

``MODEL.IFR.ENABLED`` picks the query decoder: :class:`IFRTransformerDecoder` (paper 003) or the Mask2Former-VIS
:class:`VideoMaskedTransformerDecoder`, so the paper's comparison is one key. This file only orchestrates.

Module tree (names the checkpoint converters in ``vidseg.checkpoint`` map Mask2Former keys onto):
``backbone`` (detectron2 ResNet / ``D2SwinTransformer``), ``pixel_decoder`` (``MSDeformAttnPixelDecoder``),
``predictor`` (query decoder: ``query_feat``, ``query_embed``, ``level_embed``, ``input_proj``, ``decoder_norm``,
``class_embed``, ``mask_embed``, plus ``ifr_layers.<i>.{frame_cross_attn, joint_self_attn, frame_ffn,
temporal_cross_attn, clip_self_attn, clip_ffn}`` for IFR or ``transformer_{cross_attention,self_attention,ffn}_layers``
for Mask2Former-VIS), ``criterion`` (no parameters).
"""
from __future__ import annotations

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.structures import ImageList
from detectron2.utils.events import get_event_storage
from torch import nn

from vidseg.modeling.losses import MONITOR_KEYS, VideoSetCriterion
from vidseg.modeling.matching import VideoHungarianMatcher, class_probabilities
from vidseg.modeling.pixel_decoder import build_pixel_decoder
from vidseg.structures import VideoInstances
from vidseg.structures.masks import MaskPaster
from vidseg.tracking.clip import WindowPredictions
from vidseg.tracking.clip_motion import MotionClipTrackAccumulator
from vidseg.tracking.motion import build_motion_prior
from vidseg.tracking.query import FrameQueries, QueryMatchingTracker
from vidseg.utils.memory import release_free_heap

from .config import class_loss_of
from .frame_cache import FrameFeatureCache
from .ifr_decoder import IFRTransformerDecoder
from .inference import video_topk_instances, window_starts
from .m2f_decoder import VideoMaskedTransformerDecoder
from .targets import clip_targets
from .tta import TTASettings, tta_video_instances

TEST_MODES = ("video", "clip", "frame")


@META_ARCH_REGISTRY.register()
class IFR(nn.Module):
    """Video instance segmentation with clip queries (Mask2Former-VIS) and inter-frame recurrent attention (IFR).

    Training input: B clip dicts (``image``: T uint8 3×H×W frames in ``INPUT.FORMAT``; ``instances``: T
    ``Instances`` with aligned ``gt_ids``/``gt_classes``/``gt_masks``). Returns weighted losses ``loss_ce,
    loss_mask, loss_dice`` (+ ``_<i>`` per aux layer). Inference input: whole-video dicts (``image``, ``height``,
    ``width``, optional ``frame_idx``); returns ``[{"video_instances": VideoInstances}]`` per video.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        pixel_decoder: nn.Module,
        predictor: nn.Module,
        criterion: VideoSetCriterion,
        pixel_mean: tuple[float, float, float],
        pixel_std: tuple[float, float, float],
        size_divisibility: int = 32,
        deep_supervision: bool = True,
        test_mode: str = "video",
        test_topk: int = 10,
        clip_chunk: int = 0,
        test_window: int = 5,
        test_stride: int = 1,
        match_threshold: float = 0.05,
        keep_score: float = 0.05,
        tta: TTASettings | None = None,
        frame_tracker_args: dict | None = None,
        clip_tracker_args: dict | None = None,
        max_frames_whole: int = 0,
    ) -> None:
        """
        Args:
            backbone / pixel_decoder / predictor / criterion: the four stages (see the module docstring).
            pixel_mean / pixel_std: per-channel normalisation in ``INPUT.FORMAT`` order.
            size_divisibility: frames are zero-padded to a multiple of this.
            deep_supervision: supervise every decoder layer (else the final one only).
            test_mode: ``video`` (whole video at once) or ``clip`` (sliding windows linked by query matching).
            test_topk: (query, class) pairs kept per video.
            clip_chunk: frames per backbone/pixel-decoder chunk at inference (0 = all frames at once).
            test_window / test_stride: clip mode window length and step.
            match_threshold / keep_score: clip mode linking threshold and minimum class probability.
            tta: test-time augmentation settings (video mode), or None.
            max_frames_whole: in ``video`` mode, videos longer than this run in ``clip`` mode (0 = no limit).
        """
        super().__init__()
        if test_mode not in TEST_MODES:
            raise ValueError(f"MODEL.IFR.TEST_MODE: expected one of {TEST_MODES}, got {test_mode!r}")
        if clip_chunk < 0 or test_topk < 1:
            raise ValueError(f"TEST.CLIP_CHUNK must be >= 0 and MODEL.IFR.TEST_TOPK >= 1, got {clip_chunk}, {test_topk}")
        if test_window < 1 or test_stride < 1:
            raise ValueError(f"MODEL.IFR.TEST_WINDOW / TEST_STRIDE must be >= 1, got {test_window} / {test_stride}")
        self.backbone = backbone
        self.pixel_decoder = pixel_decoder
        self.predictor = predictor
        self.criterion = criterion
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)
        self.size_divisibility = size_divisibility
        self.deep_supervision = deep_supervision
        self.test_mode = test_mode
        self.test_topk = test_topk
        self.clip_chunk = clip_chunk
        self.test_window = test_window
        self.test_stride = test_stride
        self.match_threshold = match_threshold
        self.keep_score = keep_score
        self.frame_tracker_args = dict(frame_tracker_args or {})  # frame mode: QueryMatchingTracker kwargs
        self.clip_tracker_args = dict(clip_tracker_args or {})  # clip mode: MotionClipTrackAccumulator prior kwargs
        if tta is not None and test_mode != "video":
            raise ValueError("MODEL.IFR.TTA.ENABLED needs MODEL.IFR.TEST_MODE video (runs are whole-video)")
        self.tta = tta
        if max_frames_whole < 0:
            raise ValueError(f"TEST.MAX_FRAMES_WHOLE: expected >= 0 (0 = no limit), got {max_frames_whole}")
        self.max_frames_whole = max_frames_whole

    @classmethod
    def from_config(cls, cfg) -> dict:
        ifr = cfg.MODEL.IFR
        class_loss = class_loss_of(cfg)
        backbone = build_backbone(cfg)
        pixel_decoder = build_pixel_decoder(cfg, backbone.output_shape())
        decoder_cls = IFRTransformerDecoder if ifr.ENABLED else VideoMaskedTransformerDecoder
        predictor = decoder_cls(
            cfg, in_channels=cfg.MODEL.PIXEL_DECODER.CONV_DIM, mask_dim=cfg.MODEL.PIXEL_DECODER.MASK_DIM
        )
        weights = {"loss_ce": ifr.CLASS_WEIGHT, "loss_mask": ifr.MASK_WEIGHT, "loss_dice": ifr.DICE_WEIGHT}
        weight_dict = dict(weights)
        if ifr.DEEP_SUPERVISION:
            for i in range(ifr.DEC_LAYERS - 1):
                weight_dict.update({f"{k}_{i}": v for k, v in weights.items()})
        matcher = VideoHungarianMatcher(
            cost_class=ifr.CLASS_WEIGHT,
            cost_mask=ifr.MASK_WEIGHT,
            cost_dice=ifr.DICE_WEIGHT,
            num_points=ifr.TRAIN_NUM_POINTS,
            class_loss=class_loss,
        )
        criterion = VideoSetCriterion(
            num_classes=cfg.MODEL.NUM_CLASSES,
            matcher=matcher,
            weight_dict=weight_dict,
            eos_coef=ifr.NO_OBJECT_WEIGHT,
            class_loss=class_loss,
            focal_alpha=ifr.FOCAL_ALPHA,
            focal_gamma=ifr.FOCAL_GAMMA,
            num_points=ifr.TRAIN_NUM_POINTS,
            oversample_ratio=ifr.OVERSAMPLE_RATIO,
            importance_sample_ratio=ifr.IMPORTANCE_SAMPLE_RATIO,
            cross_frame_weight=ifr.CROSS_FRAME_WEIGHT if ifr.ENABLED else 0.0,
        )
        return {
            "backbone": backbone,
            "pixel_decoder": pixel_decoder,
            "predictor": predictor,
            "criterion": criterion,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "size_divisibility": ifr.SIZE_DIVISIBILITY,
            "deep_supervision": ifr.DEEP_SUPERVISION,
            "test_mode": ifr.TEST_MODE,
            "test_topk": ifr.TEST_TOPK,
            "clip_chunk": cfg.TEST.CLIP_CHUNK,
            "test_window": ifr.TEST_WINDOW,
            "test_stride": ifr.TEST_STRIDE,
            "match_threshold": ifr.TEST_MATCH_THRESHOLD,
            "keep_score": ifr.TEST_KEEP_SCORE,
            # frame mode (MinVIS-style): 1·(1 − cos) + MODEL.MOTION_PRIOR.WEIGHT·(1 − IoU(motion prior, mask))
            "frame_tracker_args": {
                "motion_prior": build_motion_prior(cfg), "motion_weight": cfg.MODEL.MOTION_PRIOR.WEIGHT,
                "embed_weight": 1.0, "topk": ifr.TEST_TOPK,
            } if ifr.TEST_MODE == "frame" else None,
            # clip/window mode: window matching + MODEL.MOTION_PRIOR.WEIGHT·IoU(motion prior, mask) (``none``: plain)
            "clip_tracker_args": {
                "motion_prior": build_motion_prior(cfg), "motion_weight": cfg.MODEL.MOTION_PRIOR.WEIGHT,
            } if cfg.MODEL.MOTION_PRIOR.NAME != "none" else None,
            "tta": TTASettings(tuple(ifr.TTA.MIN_SIZES), cfg.INPUT.MAX_SIZE_TEST, ifr.TTA.FLIP, ifr.TTA.PIVOT_SEED)
            if ifr.TTA.ENABLED else None,
            "max_frames_whole": cfg.TEST.MAX_FRAMES_WHOLE,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def class_loss(self) -> str:
        return self.criterion.class_loss

    def preprocess(self, frames: list[torch.Tensor]) -> ImageList:
        """Normalise uint8 3×H×W frames and pad them into one (F, 3, H_pad, W_pad) batch."""
        images = [(f.to(self.device).float() - self.pixel_mean) / self.pixel_std for f in frames]
        return ImageList.from_tensors(images, self.size_divisibility)

    def encode(self, images: torch.Tensor, chunk: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Backbone + pixel decoder per frame, ``chunk`` frames at a time (0 = all).

        Args:
            images: (F, 3, H, W) normalised frames.

        Returns:
            mask features (F, mask_dim, H/4, W/4) and 3 levels (F, conv_dim, h_l, w_l), low -> high resolution.
        """
        step = chunk if chunk > 0 else images.shape[0]
        parts = [self.pixel_decoder.forward_features(self.backbone(images[s : s + step]))
                 for s in range(0, images.shape[0], step)]
        if len(parts) == 1:
            return parts[0][0], list(parts[0][1])
        levels = [torch.cat([p[1][lvl] for p in parts]) for lvl in range(len(parts[0][1]))]
        return torch.cat([p[0] for p in parts]), levels

    def decode(self, images: torch.Tensor, num_frames: int, *, chunk: int = 0, cross_frame: bool = False) -> dict:
        """(B·T, 3, H, W) frames of B clips -> the predictor's output dict (see ``IFRTransformerDecoder.forward``)."""
        mask_features, levels = self.encode(images, chunk)
        return self.predictor(levels, mask_features, num_frames=num_frames, cross_frame=cross_frame)

    def forward(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor] | list[dict]:
        if not self.training:
            return [self.inference(video) for video in batched_inputs]
        num_frames = len(batched_inputs[0]["image"])
        if any(len(clip["image"]) != num_frames for clip in batched_inputs):
            raise ValueError(f"IFR: every training clip must have {num_frames} frames (INPUT.CLIP.NUM_FRAMES)")
        images = self.preprocess([f for clip in batched_inputs for f in clip["image"]])
        outputs = self.decode(images.tensor, num_frames, cross_frame=self.criterion.cross_frame_weight > 0)
        if not self.deep_supervision:
            outputs.pop("aux_outputs", None)
        targets = clip_targets(batched_inputs, tuple(images.tensor.shape[-2:]), self.device)
        losses = self.criterion(outputs, targets)
        monitored = {k: losses.pop(k) for k in MONITOR_KEYS if k in losses}
        _log_scalars(monitored)
        weights = self.criterion.weight_dict
        return {k: v * weights[k] for k, v in losses.items() if k in weights}

    def inference(self, video: dict) -> dict:
        """One whole-video dict -> ``{"video_instances": VideoInstances}`` at the original resolution. Whole-video
        decoding (with test-time augmentation if enabled) in ``video`` mode up to ``max_frames_whole`` frames;
        sliding windows in ``clip`` mode and for longer videos."""
        frames = video["image"]
        if len(frames) == 0:
            raise ValueError(f"IFR: video {video.get('video_id')!r} has no frames")
        length = len(frames)
        out_size = (int(video.get("height", frames[0].shape[-2])), int(video.get("width", frames[0].shape[-1])))
        frame_idx = [int(i) for i in video.get("frame_idx", range(length))]
        whole = self.test_mode == "video" and not 0 < self.max_frames_whole < length
        with torch.no_grad():
            if whole and self.tta is not None:
                instances = tta_video_instances(self, frames, out_size, frame_idx, self.tta)
            elif whole:
                images = self.preprocess(frames)
                out = self.decode(images.tensor, length, chunk=self.clip_chunk)
                instances = video_topk_instances(
                    out["pred_logits"][0], out["pred_masks"][0], class_loss=self.class_loss, topk=self.test_topk,
                    paster=_paster(images, out_size), frame_idx=frame_idx,
                )
            elif self.test_mode == "frame":
                instances = self.frame_inference(frames, out_size, frame_idx)
            else:
                instances = self.clip_inference(frames, out_size, frame_idx)
        return {"video_instances": instances}

    def clip_inference(
        self, frames: list[torch.Tensor], out_size: tuple[int, int], frame_idx: list[int]
    ) -> VideoInstances:
        """Sliding-window inference with id carry-over; tensors of one window at a time. Each frame's backbone and
        pixel decoder run once (``FrameFeatureCache``); overlapping windows reuse the features. Free heap pages go
        back to the OS between windows (``vidseg.utils.memory``), so the resident set does not grow with the video."""
        starts = window_starts(len(frames), self.test_window, self.test_stride)
        cache = FrameFeatureCache(frames, self.preprocess, self.encode, self.clip_chunk)
        acc = None
        for k, start in enumerate(starts):
            end = min(start + self.test_window, len(frames))
            mask_features, levels = cache.window(start, end)
            out = self.predictor(levels, mask_features, num_frames=end - start)
            if acc is None:
                acc = MotionClipTrackAccumulator(
                    length=len(frames), match_threshold=self.match_threshold, keep_score=self.keep_score,
                    paster=_paster(cache.images, out_size), topk=self.test_topk, frame_idx=frame_idx,
                    **self.clip_tracker_args,
                )
            probs = class_probabilities(out["pred_logits"][0], self.class_loss)
            acc.update(start, WindowPredictions(probs, out["pred_masks"][0], out["pred_embeds"][0]))
            acc.finish_frames(starts[k + 1] if k + 1 < len(starts) else len(frames))
            del mask_features, levels, out, probs  # free this window's tensors before the next one is allocated,
            release_free_heap()  # and give their pages back (flat memory on long videos, issue 13 item 4)
        return acc.finalize()


    def frame_inference(self, frames: list[torch.Tensor], out_size: tuple[int, int], frame_idx: list[int]):
        """Every frame decoded alone; queries linked frame to frame by :class:`QueryMatchingTracker`."""
        tracker = None
        for t, frame in zip(frame_idx, frames):
            images = self.preprocess([frame])
            out = self.decode(images.tensor, 1, chunk=self.clip_chunk)
            if tracker is None:
                tracker = QueryMatchingTracker(paster=_paster(images, out_size), out_size=out_size,
                                               **self.frame_tracker_args)
            probs = class_probabilities(out["pred_logits"][0], self.class_loss)
            tracker.update(t, FrameQueries(probs, out["pred_masks"][0][:, 0], out["pred_embeds"][0]))
        return tracker.finalize()


def _paster(images: ImageList, out_size: tuple[int, int]) -> MaskPaster:
    """Pastes mask logits of this (padded) frame batch back at the original (height, width)."""
    return MaskPaster(
        padded_size=tuple(images.tensor.shape[-2:]), valid_size=tuple(images.image_sizes[0]), out_size=out_size
    )


def _log_scalars(values: dict[str, torch.Tensor]) -> None:
    """Put monitoring values into the current detectron2 EventStorage, if a trainer opened one."""
    try:
        storage = get_event_storage()
    except AssertionError:  # no EventStorage outside a trainer
        return
    for k, v in values.items():
        storage.put_scalar(k, float(v))
