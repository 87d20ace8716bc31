"""``ISVOSNetwork``: the ISVOS model (paper 004 §3, spec §2) as frame-level operations, plus its training forward.

One backbone pass per frame serves the IS branch (pixel decoder + Mask2Former decoder), the Enhanced Key Encoder
(res4), the value encoder (res4) and the MPF decoder (res4/res3/res2 + P_0..P_2). Video inference is driven
from outside (``vidseg.vos.VOSEngine`` calls ``prepare`` / ``encode_frame`` / ``segment`` / ``encode_value`` /
``aggregate``); this module never imports the engine.

Training (spec §2.5, §3): per clip, frame 0 is encoded with its GT masks; frame t reads the memory of the
``reference_frames`` (full softmax), is decoded, soft-aggregated and (except the last) encoded into memory with
its predicted, not detached, probabilities. Losses: bootstrapped CE + dice over t = 1..T-1, plus the IS set loss
on every frame's instances (weight ``IS_BRANCH.LOSS_WEIGHT``).
"""
from __future__ import annotations

import numpy as np
import torch
from detectron2.modeling import build_backbone
from detectron2.utils.events import get_event_storage
from torch import nn
from torch.nn import functional as F

from vidseg.modeling.losses import VideoSetCriterion
from vidseg.modeling.matching import VideoHungarianMatcher
from vidseg.modeling.pixel_decoder import build_pixel_decoder
from vidseg.tracking.motion import build_motion_prior

from .decoder import MPFDecoder
from .instance_branch import InstanceDecoder
from .key_encoder import EnhancedKeyEncoder
from .losses import boot_fraction, bootstrapped_ce, dice_loss
from .memory import read_memory, soft_aggregate
from .motion import ClipMotion, MotionFusion
from .sampling import reference_frames
from .value_encoder import ValueEncoder


def _is_criterion(cfg, num_layers: int) -> VideoSetCriterion:
    c = cfg.MODEL.ISVOS.IS_BRANCH
    weights = {"loss_ce": c.CLASS_WEIGHT, "loss_mask": c.MASK_WEIGHT, "loss_dice": c.DICE_WEIGHT}
    weight_dict = dict(weights)
    for i in range(num_layers):
        weight_dict.update({f"{k}_{i}": v for k, v in weights.items()})
    matcher = VideoHungarianMatcher(cost_class=c.CLASS_WEIGHT, cost_mask=c.MASK_WEIGHT, cost_dice=c.DICE_WEIGHT,
                                    num_points=c.TRAIN_NUM_POINTS, class_loss="ce")
    return VideoSetCriterion(num_classes=cfg.MODEL.NUM_CLASSES, matcher=matcher, weight_dict=weight_dict,
                             eos_coef=c.NO_OBJECT_WEIGHT, class_loss="ce", num_points=c.TRAIN_NUM_POINTS,
                             oversample_ratio=c.OVERSAMPLE_RATIO, importance_sample_ratio=c.IMPORTANCE_SAMPLE_RATIO)


class ISVOSNetwork(nn.Module):
    """Backbone + IS branch + memory branch; see the module docstring."""

    def __init__(self, cfg) -> None:
        super().__init__()
        c = cfg.MODEL.ISVOS
        self.backbone = build_backbone(cfg)
        shapes = self.backbone.output_shape()
        self.pixel_decoder = build_pixel_decoder(cfg, shapes)
        conv_dim, mask_dim = cfg.MODEL.PIXEL_DECODER.CONV_DIM, cfg.MODEL.PIXEL_DECODER.MASK_DIM
        isb = c.IS_BRANCH
        self.predictor = InstanceDecoder(
            in_channels=conv_dim, mask_dim=mask_dim, num_classes=cfg.MODEL.NUM_CLASSES, hidden_dim=isb.HIDDEN_DIM,
            num_queries=isb.NUM_QUERIES, nheads=isb.NHEADS, dim_feedforward=isb.DIM_FEEDFORWARD,
            dec_layers=isb.DEC_LAYERS, pre_norm=isb.PRE_NORM)
        self.key_feature = c.KEY_IN_FEATURE
        if c.QUERY_ENHANCE and c.KEY_HIDDEN_DIM != isb.HIDDEN_DIM:
            raise ValueError(f"MODEL.ISVOS.KEY_HIDDEN_DIM ({c.KEY_HIDDEN_DIM}) must equal IS_BRANCH.HIDDEN_DIM "
                             f"({isb.HIDDEN_DIM}) with QUERY_ENHANCE")
        self.key_encoder = EnhancedKeyEncoder(
            in_channels=shapes[c.KEY_IN_FEATURE].channels, key_dim=c.KEY_DIM, hidden_dim=c.KEY_HIDDEN_DIM,
            num_queries=isb.NUM_QUERIES, query_enhance=c.QUERY_ENHANCE, deform_heads=c.QE.DEFORM_HEADS,
            deform_points=c.QE.DEFORM_POINTS, ffn_dim=c.QE.FFN_DIM, ref_points=c.QE.REF_POINTS,
            use_query_pos=c.QE.USE_QUERY_POS, kernel=c.KEY_PROJ_KERNEL)
        self.value_feature = c.VALUE_ENCODER.FUSE_FEATURE
        self.value_encoder = ValueEncoder(
            name=c.VALUE_ENCODER.NAME, feature_dim=shapes[self.value_feature].channels, value_dim=c.VALUE_DIM,
            weights=c.VALUE_ENCODER.WEIGHTS, tiny_dim=c.VALUE_ENCODER.TINY_DIM)
        self.skip_features = list(c.MPF.BACKBONE_FEATURES)
        self.mask_decoder = MPFDecoder(
            value_dim=c.VALUE_DIM, skip_dims=[shapes[f].channels for f in self.skip_features], pixel_dim=conv_dim,
            channels=list(c.MPF.CHANNELS), mpf=c.MPF.ENABLED)
        self.criterion = _is_criterion(cfg, isb.DEC_LAYERS - 1)
        prior = build_motion_prior(cfg)  # MODEL.MOTION_PRIOR; "none": no fusion layer, the plain model
        self.motion_prior = prior if prior.active else None
        self.motion_fusion = MotionFusion(c.VALUE_DIM) if self.motion_prior is not None else None
        self.register_buffer("pixel_mean", torch.tensor(cfg.MODEL.PIXEL_MEAN).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.MODEL.PIXEL_STD).view(-1, 1, 1), persistent=False)
        self.size_divisibility = c.SIZE_DIVISIBILITY
        self.top_k = c.MEMORY.TOP_K
        self.num_ref = c.TRAIN.NUM_REF_FRAMES
        self.joint_is = bool(isb.JOINT_TRAIN)
        self.is_weight = float(isb.LOSS_WEIGHT)
        self.ce_weight, self.dice_weight = c.LOSS.CE_WEIGHT, c.LOSS.DICE_WEIGHT
        self.boot = (c.LOSS.BOOT_START_WARM, c.LOSS.BOOT_END_WARM, c.LOSS.BOOT_TOP_P)
        self.rng = np.random.default_rng(cfg.SEED if cfg.SEED >= 0 else None)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    # ---- frame-level operations (the engine protocol, vidseg/vos/protocol.py)
    def prepare(self, frame: torch.Tensor) -> torch.Tensor:
        """uint8 (3, H, W) -> normalised (1, 3, H_pad, W_pad), zero-padded bottom/right to the divisibility."""
        x = (frame.to(self.device).float() - self.pixel_mean) / self.pixel_std
        d = self.size_divisibility
        h, w = x.shape[-2:]
        return F.pad(x, (0, (-w) % d, 0, (-h) % d))[None]

    def encode_frame(self, images: torch.Tensor, *, heads: bool = False) -> dict:
        """(B, 3, H, W) -> backbone maps, pixel-decoder levels, IS outputs and the (instance-augmented) key."""
        feats = self.backbone(images)
        mask_features, levels = self.pixel_decoder.forward_features(feats)
        qe = self.key_encoder.query_enhance
        is_out = self.predictor(levels, mask_features, heads=heads) if (qe or heads) else {}
        key = self.key_encoder(feats[self.key_feature], is_out.get("queries"), self.predictor.query_embed.weight,
                               is_out.get("pred_masks"))
        return {"features": feats, "levels": levels, "is_out": is_out, "size": tuple(images.shape[-2:]), **key}

    def encode_value(self, frame: dict, images: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """Object probabilities (B, K, H, W) of an encoded frame -> memory values (B, K, C_v, h, w)."""
        return self.value_encoder(images, probs, frame["features"][self.value_feature])

    def segment(self, frame: dict, mem_key: torch.Tensor, mem_value: torch.Tensor, *, top_k: int | None = None,
                selector: torch.Tensor | None = None, motion: torch.Tensor | None = None) -> dict:
        """Memory read (+ motion fusion) + MPF decoder + soft aggregation.

        Args:
            mem_key: (B, C_k, T, h, w); mem_value: (B, K, C_v, T, h, w); top_k: None = ``MEMORY.TOP_K``;
            selector: (B, K) 0/1 of the objects that exist (padded objects get probability 0);
            motion: (B, K, H, W) a motion prior's predicted masks (used only with ``MODEL.MOTION_PRIOR``; None =
                zeros), see :mod:`.motion`.

        Returns:
            ``logits`` (B, K+1, H, W) aggregated logits and ``probs`` (B, K+1, H, W), background first.
        """
        readout = read_memory(mem_key, mem_value, frame["key"], self.top_k if top_k is None else top_k)
        if self.motion_fusion is not None:
            readout = self.motion_fusion(readout, motion)
        skips = [frame["features"][f] for f in self.skip_features]
        pixels = frame["levels"] if self.mask_decoder.mpf else None
        obj = self.mask_decoder(readout, skips, pixels, frame["size"])["logits"].sigmoid()
        if selector is not None:
            obj = obj * selector[:, :, None, None]
        logits, probs = soft_aggregate(obj, dim=1)
        return {"logits": logits, "probs": probs}

    @staticmethod
    def aggregate(obj_probs: torch.Tensor) -> torch.Tensor:
        """(B, K, H, W) object probabilities -> (B, K+1, H, W) soft-aggregated probabilities."""
        return soft_aggregate(obj_probs, dim=1)[1]

    # ---- training
    def training_losses(self, clips: list[dict]) -> dict[str, torch.Tensor]:
        from .targets import vos_targets

        num_frames = len(clips[0]["image"])
        if num_frames < 2 or any(len(c["image"]) != num_frames for c in clips):
            raise ValueError(f"ISVOS: every training clip needs the same number (>= 2) of frames, got "
                             f"{[len(c['image']) for c in clips]} (INPUT.CLIP.NUM_FRAMES)")
        b = len(clips)
        prepared = [self.prepare(f) for c in clips for f in c["image"]]
        hmax, wmax = max(x.shape[-2] for x in prepared), max(x.shape[-1] for x in prepared)
        images = torch.cat([F.pad(x, (0, wmax - x.shape[-1], 0, hmax - x.shape[-2])) for x in prepared])
        size = tuple(images.shape[-2:])
        masks, selector, is_targets = vos_targets(clips, size, self.device)  # (B, T, K, H, W), (B, K)
        frames = self.encode_frame(images, heads=self.joint_is)
        keys = frames["key"].view(b, num_frames, *frames["key"].shape[1:])
        imgs = images.view(b, num_frames, *images.shape[1:])

        def frame_at(t: int) -> dict:
            pick = lambda x: x.view(b, num_frames, *x.shape[1:])[:, t]  # noqa: E731
            return {"features": {k: pick(v) for k, v in frames["features"].items()},
                    "levels": [pick(x) for x in frames["levels"]], "key": keys[:, t], "size": size}

        it = _current_iter()
        p = boot_fraction(it, *self.boot)
        first = masks[:, 0] * selector[:, :, None, None]
        values = [self.encode_value(frame_at(0), imgs[:, 0], first)]
        motion = None if self.motion_prior is None else ClipMotion(self.motion_prior, first)
        ce, dice = 0.0, 0.0
        for t in range(1, num_frames):
            ref_idx = [reference_frames(t, self.num_ref, self.rng) for _ in range(b)]
            mem_key = torch.stack([keys[i, r] for i, r in enumerate(ref_idx)]).transpose(1, 2)
            vals = torch.stack(values, 2)  # (B, K, T', C_v, h, w)
            mem_value = torch.stack([vals[i, :, r] for i, r in enumerate(ref_idx)]).transpose(2, 3)
            frame = frame_at(t)
            out = self.segment(frame, mem_key, mem_value, top_k=0, selector=selector,
                               motion=motion.predict(t, self.device) if motion is not None else None)
            gt = masks[:, t] * selector[:, :, None, None]
            cls = (gt * torch.arange(1, gt.shape[1] + 1, device=gt.device)[None, :, None, None]).amax(1).long()
            ce = ce + bootstrapped_ce(out["logits"], cls, p)
            dice = dice + dice_loss(out["probs"][:, 1:], gt)
            if t < num_frames - 1:
                values.append(self.encode_value(frame, imgs[:, t], out["probs"][:, 1:]))
                if motion is not None:
                    labels = out["probs"].argmax(1, keepdim=True)
                    motion.add(t, labels == torch.arange(1, gt.shape[1] + 1, device=labels.device)[None, :, None, None])
        losses = {"loss_vos_ce": self.ce_weight * ce, "loss_vos_dice": self.dice_weight * dice}
        if self.joint_is:
            is_out = frames["is_out"]
            outputs = {"pred_logits": is_out["pred_logits"], "pred_masks": is_out["pred_masks"][:, :, None],
                       "aux_outputs": [{"pred_logits": a["pred_logits"], "pred_masks": a["pred_masks"][:, :, None]}
                                       for a in is_out["aux_outputs"]]}
            raw = self.criterion(outputs, is_targets)
            w = self.criterion.weight_dict
            losses.update({f"is_{k}": v * w[k] * self.is_weight for k, v in raw.items() if k in w})
        return losses


def _current_iter() -> int:
    try:
        return int(get_event_storage().iter)
    except AssertionError:  # no EventStorage outside a trainer
        return 0
