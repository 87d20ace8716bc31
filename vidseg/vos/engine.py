"""``VOSEngine``: model-agnostic streaming semi-supervised VOS inference (Cutie ``InferenceCore`` / SAM 2 style).

    engine = VOSEngine(model, cfg)            # cfg: CfgNode (TEST.VOS.*) or EngineSettings
    out = engine.step(frame, masks, object_ids)   # frame: uint8 3×H×W; masks: K'×H×W (or an H×W label map)
    out["probs"]  # (K+1)×H×W, background first;  out["labels"]: H×W object ids;  out["object_ids"]

The model implements the protocol of :mod:`vidseg.vos.protocol` (``prepare``, ``encode_frame``, ``segment``,
``encode_value``, ``aggregate``) and never imports this module. Per frame: encode once (cached for the value
encoder), read the memory and segment the existing objects, merge given masks (existing objects' probabilities
are zeroed inside them, then re-aggregated, XMem ``InferenceCore.step``), and memorise when the frame has given
masks or ``mem_every`` frames passed since the last memorised frame (never at ``end=True``). Objects may be added
at any frame and removed (:meth:`remove_objects`); memory is a bounded :class:`MemoryBank`, so peak memory does
not grow with the video length.

Motion prior (``MODEL.MOTION_PRIOR``, e.g. InstMove; off with ``none``): the engine keeps each object's last
visible masks (a bounded :class:`~vidseg.tracking.motion.TrackHistory`), asks the prior for its mask at the
current frame and passes them to ``model.segment(..., motion=(1, K, H_pad, W_pad))``; with ``none`` (or an
inactive prior) ``segment`` is called exactly as without one.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from vidseg.structures.masks import encode_mask
from vidseg.tracking.motion import MotionPrior, TrackHistory, build_motion_prior

from .memory import MemoryBank


@dataclass
class EngineSettings:
    mem_every: int = 5
    max_memory: int = 16  # entries, the pinned first frame included
    pin_first_frame: bool = True
    pin_annotated_frames: bool = True
    max_objects: int = 0  # 0 = unlimited
    feature_cache: int = 1  # frames whose encoded features are kept

    @classmethod
    def from_config(cls, cfg) -> "EngineSettings":
        if isinstance(cfg, EngineSettings):
            return cfg
        if cfg is None:
            return cls()
        v = cfg.TEST.VOS
        return cls(mem_every=v.MEM_EVERY, max_memory=v.MAX_MEMORY, pin_first_frame=v.PIN_FIRST_FRAME,
                   pin_annotated_frames=v.PIN_ANNOTATED_FRAMES, max_objects=v.MAX_OBJECTS)


class VOSEngine:
    """Streaming inference over one video; see the module docstring. ``reset()`` starts a new video."""

    def __init__(self, model, cfg=None, *, motion_prior: MotionPrior | None = None) -> None:
        self.model = model
        self.settings = EngineSettings.from_config(cfg)
        if motion_prior is None and cfg is not None and not isinstance(cfg, EngineSettings):
            motion_prior = build_motion_prior(cfg)
        self.motion_prior = motion_prior if motion_prior is not None and motion_prior.active else None
        if self.settings.mem_every < 1:
            raise ValueError(f"TEST.VOS.MEM_EVERY must be >= 1, got {self.settings.mem_every}")
        self.reset()

    def reset(self) -> None:
        self.memory = MemoryBank(self.settings.max_memory)
        self.object_ids: list[int] = []
        self.frame_index = -1
        self.last_mem = None
        self.size: tuple[int, int] | None = None
        self._cache: OrderedDict = OrderedDict()
        self.histories: dict[int, TrackHistory] = {}

    def remove_objects(self, object_ids) -> None:
        gone = {int(i) for i in object_ids}
        self.object_ids = [i for i in self.object_ids if i not in gone]
        self.memory.remove_objects(list(gone))
        for i in gone:
            self.histories.pop(i, None)

    def _motion(self, t: int, pad_size: tuple[int, int], device) -> dict:
        """``{"motion": (1, K, H_pad, W_pad)}`` from the prior, or ``{}`` without one."""
        if self.motion_prior is None:
            return {}
        hs = [self.histories.setdefault(i, TrackHistory(self.motion_prior.history)) for i in self.object_ids]
        out = torch.zeros((1, len(hs), *pad_size), device=device)
        for j, mask in enumerate(self.motion_prior.predict(hs, t)):
            if mask is not None:
                out[0, j, : mask.shape[0], : mask.shape[1]] = torch.from_numpy(np.ascontiguousarray(mask)).to(device)
        return {"motion": out}

    def _record(self, t: int, labels: torch.Tensor) -> None:
        """Append each object's visible mask (``labels == id``) at frame t to its history."""
        if self.motion_prior is None:
            return
        lab = labels.cpu().numpy()
        for i in self.object_ids:
            m = lab == i
            if m.any():
                self.histories.setdefault(i, TrackHistory(self.motion_prior.history)).append(t, encode_mask(m))

    def _encode(self, t: int, frame: torch.Tensor) -> tuple[torch.Tensor, dict]:
        if t in self._cache:
            return self._cache[t]
        image = self.model.prepare(frame)
        item = (image, self.model.encode_frame(image))
        self._cache[t] = item
        while len(self._cache) > self.settings.feature_cache:
            self._cache.popitem(last=False)
        return item

    def _given(self, masks, object_ids, size) -> tuple[list[int], torch.Tensor]:
        m = torch.as_tensor(np.asarray(masks)) if not torch.is_tensor(masks) else masks
        if m.dim() == 2:  # label map
            ids = [int(i) for i in torch.unique(m).tolist() if i != 0] if object_ids is None else list(object_ids)
            m = torch.stack([m == i for i in ids]) if ids else torch.zeros((0, *m.shape), dtype=torch.bool)
        else:
            ids = list(range(1, m.shape[0] + 1)) if object_ids is None else [int(i) for i in object_ids]
        if m.shape[0] != len(ids):
            raise ValueError(f"VOSEngine.step: {m.shape[0]} masks but {len(ids)} object ids")
        if tuple(m.shape[-2:]) != size:
            raise ValueError(f"VOSEngine.step: masks are {tuple(m.shape[-2:])} but the frame is {size}")
        if any(i <= 0 for i in ids):
            raise ValueError(f"VOSEngine.step: object ids must be >= 1, got {ids}")
        return ids, m.float()

    @torch.no_grad()
    def step(self, frame, masks=None, object_ids=None, *, end: bool = False) -> dict:
        """Process the next frame. ``masks`` (K'×H×W or H×W labels) give/overwrite objects ``object_ids`` (default
        1..K' or the label values); ``end`` marks the last frame (not memorised)."""
        frame = torch.as_tensor(np.asarray(frame)) if not torch.is_tensor(frame) else frame
        if frame.dim() != 3 or frame.shape[0] != 3:
            raise ValueError(f"VOSEngine.step: expected a 3×H×W frame, got shape {tuple(frame.shape)}")
        size = tuple(frame.shape[-2:])
        if self.size is None:
            self.size = size
        elif size != self.size:
            raise ValueError(f"VOSEngine.step: frame {self.frame_index + 1} is {size[1]}x{size[0]} but the video "
                             f"started at {self.size[1]}x{self.size[0]}")
        self.frame_index += 1
        t = self.frame_index
        image, feats = self._encode(t, frame)
        pad_h, pad_w = image.shape[-2:]
        k = len(self.object_ids)
        obj = None
        if k and len(self.memory):
            mem_key, mem_value = self.memory.read(self.object_ids)
            obj = self.model.segment(feats, mem_key, mem_value, **self._motion(t, (pad_h, pad_w), image.device))
            obj = obj["probs"][:, 1:]
        elif k:
            obj = image.new_zeros((1, k, pad_h, pad_w))
        annotated = masks is not None
        if annotated:
            ids, given = self._given(masks, object_ids, size)
            new = [i for i in ids if i not in self.object_ids]
            limit = self.settings.max_objects
            if limit and len(self.object_ids) + len(new) > limit:
                raise ValueError(f"VOSEngine.step: {len(self.object_ids) + len(new)} objects exceed the limit "
                                 f"of {limit} (TEST.VOS.MAX_OBJECTS)")
            self.object_ids += new
            g = image.new_zeros((len(ids), pad_h, pad_w))
            g[:, : size[0], : size[1]] = given.to(g.device)
            base = image.new_zeros((1, len(self.object_ids), pad_h, pad_w))
            if obj is not None:
                base[:, : obj.shape[1]] = obj
            base = base * (1 - g.amax(0, keepdim=True).clamp(0, 1))[None]
            for j, i in enumerate(ids):
                base[0, self.object_ids.index(i)] = g[j]
            obj = base
        if obj is None:  # nothing to track yet
            probs = image.new_ones((1, 1, pad_h, pad_w))
        else:
            probs = self.model.aggregate(obj)
        memorise = obj is not None and (annotated or (self.last_mem is not None
                                                      and t - self.last_mem >= self.settings.mem_every)) and not end
        if memorise:
            value = self.model.encode_value(feats, image, probs[:, 1:])[0]
            pinned = (len(self.memory) == 0 and self.settings.pin_first_frame) or (
                annotated and self.settings.pin_annotated_frames)
            self.memory.push(t, feats["key"][0], value, self.object_ids, pinned=pinned)
            self.last_mem = t
        probs = probs[0, :, : size[0], : size[1]]
        ids_t = torch.as_tensor([0, *self.object_ids], device=probs.device)
        labels = ids_t[probs.argmax(0)]
        self._record(t, labels)
        return {"probs": probs, "labels": labels, "object_ids": list(self.object_ids)}
