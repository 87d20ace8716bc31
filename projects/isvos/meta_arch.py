"""``ISVOS`` meta-architecture (paper 004): :class:`ISVOSNetwork` + training forward + whole-video evaluation.

Training input: ``VOSClipMapper`` / ``ISVOSClipMapper`` clip dicts; returns ``loss_vos_ce``, ``loss_vos_dice``
and the IS set losses ``is_loss_*``. Evaluation input: whole-video dicts (``image``: T uint8 frames, ``vos_init``
``{frame: Instances}`` with ``gt_ids`` / ``gt_masks``, ``height``, ``width``); the video is streamed through
:class:`vidseg.vos.VOSEngine` (or :class:`~vidseg.vos.TTAEngine` with ``TEST.VOS.FLIP`` / ``SCALES``) and
returned as ``{"video_instances": VideoInstances}`` (one track per object id, masks at the original size). The
network module itself never imports the engine; this application layer does.
"""
from __future__ import annotations

import torch
from detectron2.modeling import META_ARCH_REGISTRY
from torch.nn import functional as F

from vidseg.data.io.errors import DatasetFormatError
from vidseg.structures import VideoInstances
from vidseg.structures.masks import encode_mask

from .network import ISVOSNetwork


@META_ARCH_REGISTRY.register()
class ISVOS(ISVOSNetwork):
    """See the module docstring."""

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.engine_cfg = cfg.clone()

    def forward(self, batched_inputs: list[dict]):
        if self.training:
            return self.training_losses(batched_inputs)
        return [self.inference(video) for video in batched_inputs]

    def make_engine(self):
        from vidseg.vos import TTAEngine, VOSEngine

        v = self.engine_cfg.TEST.VOS
        if v.FLIP or len(v.SCALES):
            return TTAEngine(self, self.engine_cfg, scales=(None, *v.SCALES), flip=v.FLIP)
        return VOSEngine(self, self.engine_cfg)

    def check_object_limit(self, video: dict) -> None:
        """Palette ids above ``TEST.VOS.MAX_OBJECTS`` -> one-line error naming the annotated frame's file."""
        limit = self.engine_cfg.TEST.VOS.MAX_OBJECTS
        if limit <= 0:
            return
        names = video.get("file_names") or [f"{video.get('video_id')} frame {t}" for t in range(len(video["image"]))]
        for t, inst in sorted(video.get("vos_init", {}).items()):
            bad = [int(i) for i in inst.gt_ids.tolist() if int(i) > limit]
            if bad:
                raise DatasetFormatError(names[t], f"its mask has palette ids {bad} above the model's object limit "
                                                   f"{limit}", expected="ids 1..TEST.VOS.MAX_OBJECTS")

    def inference(self, video: dict) -> dict:
        """Stream one video; masks are pasted at (height, width) and stored as RLEs frame by frame."""
        frames = video["image"]
        length = len(frames)
        out_size = (int(video.get("height", frames[0].shape[-2])), int(video.get("width", frames[0].shape[-1])))
        init = video.get("vos_init", {})
        self.check_object_limit(video)
        engine = self.make_engine()
        rles: dict[int, list] = {}
        for t, frame in enumerate(frames):
            masks = ids = None
            if t in init:
                inst = init[t]
                m = inst.gt_masks.tensor if hasattr(inst.gt_masks, "tensor") else inst.gt_masks
                masks, ids = m, [int(i) for i in inst.gt_ids.tolist()]
            out = engine.step(frame, masks, ids, end=t == length - 1)
            probs = out["probs"]
            if tuple(probs.shape[-2:]) != out_size:
                probs = F.interpolate(probs[None], size=out_size, mode="bilinear", align_corners=False)[0]
            labels = probs.argmax(0).cpu().numpy()
            for j, oid in enumerate(out["object_ids"]):
                track = rles.setdefault(oid, [None] * length)
                m = labels == j + 1
                track[t] = encode_mask(m) if m.any() else None
        ids = sorted(rles)
        return {"video_instances": VideoInstances(
            image_size=out_size, frame_idx=[int(i) for i in video.get("frame_idx", range(length))],
            track_ids=ids, scores=[1.0] * len(ids), labels=[0] * len(ids), masks=[rles[i] for i in ids])}
