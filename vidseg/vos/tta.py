"""``TTAEngine``: multi-scale / flip test-time merging for streaming VOS (paper 004 App. A; XMem ``eval.py``).

One :class:`VOSEngine` per (scale, flip) setting runs the whole video independently; each step's (K+1)
probabilities are mapped back (un-flipped, resized to the frame size) and averaged; labels are the argmax.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from .engine import VOSEngine


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    kw = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x[None].float(), size=size, mode=mode, **kw)[0]


class TTAEngine:
    """Averages the probabilities of several engines; ``scales`` are shorter sides (None = original size)."""

    def __init__(self, model, cfg=None, *, scales=(None,), flip: bool = False) -> None:
        self.settings = [(s, f) for s in scales for f in ((False, True) if flip else (False,))]
        self.engines = [VOSEngine(model, cfg) for _ in self.settings]

    def reset(self) -> None:
        for e in self.engines:
            e.reset()

    def remove_objects(self, object_ids) -> None:
        for e in self.engines:
            e.remove_objects(object_ids)

    @staticmethod
    def _size(size: tuple[int, int], short: int | None) -> tuple[int, int]:
        if short is None:
            return size
        h, w = size
        r = short / min(h, w)
        return int(round(h * r)), int(round(w * r))

    @torch.no_grad()
    def step(self, frame, masks=None, object_ids=None, *, end: bool = False) -> dict:
        frame = torch.as_tensor(np.asarray(frame)) if not torch.is_tensor(frame) else frame
        size = tuple(frame.shape[-2:])
        if masks is not None:
            masks = torch.as_tensor(np.asarray(masks)) if not torch.is_tensor(masks) else masks
            if masks.dim() == 2:
                ids = [int(i) for i in torch.unique(masks).tolist() if i != 0] if object_ids is None else object_ids
                masks, object_ids = torch.stack([masks == i for i in ids]), ids
        total, ids = None, None
        for (short, flip), engine in zip(self.settings, self.engines):
            s = self._size(size, short)
            f = _resize(frame, s, "bilinear").round().clamp(0, 255).to(torch.uint8)
            m = _resize(masks.float(), s, "nearest") if masks is not None else None
            if flip:
                f = f.flip(-1)
                m = m.flip(-1) if m is not None else None
            out = engine.step(f, m, object_ids, end=end)
            p = out["probs"].flip(-1) if flip else out["probs"]
            p = _resize(p, size, "bilinear")
            total = p if total is None else total + p
            ids = out["object_ids"]
        probs = total / len(self.engines)
        ids_t = torch.as_tensor([0, *ids], device=probs.device)
        return {"probs": probs, "labels": ids_t[probs.argmax(0)], "object_ids": ids}
