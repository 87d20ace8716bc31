"""Synthetic mask sequences for InstMove learning tests (paper 000) and the two motion baselines.

One object per sample on an S×S canvas: an ellipse or axis-aligned rectangle moving at constant velocity
(reflected at the borders) with a small per-frame scale change; each input mask is occluded by a horizontal or
vertical zero band with probability ``band_prob``; the target (last frame) is never occluded.
"""
from __future__ import annotations

import numpy as np
import torch

from vidseg.tracking.motion import shift_mask

__all__ = ["render_shape", "sample_sequence", "make_batch", "eval_set", "copy_last", "linear_extrapolation"]


def render_shape(size: int, kind: str, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    if kind == "ellipse":
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    return (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)


def occlude(mask: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    axis = int(rng.integers(2))  # 0: vertical band (columns), 1: horizontal band (rows)
    profile = mask.any(axis=0) if axis == 0 else mask.any(axis=1)
    idx = np.nonzero(profile)[0]
    if not len(idx):
        return mask
    c = int(rng.integers(idx.min(), idx.max() + 1))
    w = int(rng.integers(max(1, size // 20), max(2, size // 6)))
    out = mask.copy()
    lo, hi = max(c - w, 0), max(c + w, 0)
    if axis == 0:
        out[:, lo:hi] = False
    else:
        out[lo:hi, :] = False
    return out


def sample_sequence(rng: np.random.Generator, size: int, n: int, band_prob: float = 0.3) -> np.ndarray:
    """(n + 1, S, S) bool: n (possibly occluded) input masks then the clean target."""
    kind = "ellipse" if rng.random() < 0.5 else "rect"
    ry, rx = rng.uniform(0.08 * size, 0.17 * size, size=2)
    c = rng.uniform(0.22 * size, 0.78 * size, size=2)
    speed = rng.uniform(0.03 * size, 0.10 * size)
    angle = rng.uniform(0, 2 * np.pi)
    v = speed * np.array([np.sin(angle), np.cos(angle)])
    frames = []
    for t in range(n + 1):
        if t:
            s = rng.uniform(0.95, 1.05)
            ry, rx = ry * s, rx * s
            c = c + v
            for d, r in ((0, ry), (1, rx)):
                if c[d] - r < 0 or c[d] + r > size:
                    v[d] = -v[d]
                    c[d] = float(np.clip(c[d], r, size - r))
        frames.append(render_shape(size, kind, c[0], c[1], ry, rx))
    for t in range(n):
        if rng.random() < band_prob:
            frames[t] = occlude(frames[t], rng, size)
    return np.stack(frames)


def make_batch(rng: np.random.Generator, batch: int, size: int, n: int, band_prob: float = 0.3) -> dict:
    """{"past": (B, n, S, S) float, "target": (B, S, S) float} with one n for the whole batch."""
    seqs = np.stack([sample_sequence(rng, size, n, band_prob) for _ in range(batch)])
    return {"past": torch.from_numpy(seqs[:, :n]).float(), "target": torch.from_numpy(seqs[:, n]).float()}


def eval_set(size: int = 32, seed: int = 123, per_n: int = 100, ns=(2, 3, 4)) -> list[dict]:
    """The fixed evaluation set: ``per_n`` samples for each n (one batch per n)."""
    rng = np.random.default_rng(seed)
    return [make_batch(rng, per_n, size, n) for n in ns]


def copy_last(past: torch.Tensor) -> torch.Tensor:
    """Predict m_{t−1}: (B, n, S, S) -> (B, S, S) bool."""
    return past[:, -1] > 0.5


def _centroid(m: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(m)
    return np.array([ys.mean(), xs.mean()]) if len(ys) else None


def linear_extrapolation(past: torch.Tensor) -> torch.Tensor:
    """m_{t−1} translated by the rounded centroid displacement m_{t−2} -> m_{t−1} (copy-last if one is empty)."""
    out = []
    for seq in (past > 0.5).cpu().numpy():
        last, c1, c0 = seq[-1], _centroid(seq[-1]), _centroid(seq[-2])
        if c1 is None or c0 is None:
            out.append(last)
            continue
        dy, dx = np.rint(c1 - c0).astype(int)
        out.append(shift_mask(last, int(dy), int(dx)))
    return torch.from_numpy(np.stack(out))


def evaluate_predictors(eval_batches: list[dict], predict) -> float:
    """Mean IoU over the evaluation set of ``predict(past) -> (B, S, S) bool``."""
    from .training import mean_iou

    ious = [mean_iou(predict(b["past"]), b["target"] > 0.5) for b in eval_batches]
    return float(torch.cat(ious).mean())


def train_on_synthetic(net, *, iterations: int, seed: int, step2_trainable: str, lr: float = 1e-3,
                       batch: int = 16, ns=(2, 3, 4), callback=None) -> list[float]:
    """The learning test of InstMove README: Adam, two-step iterations on the generator stream seeded ``seed`` with
    one n per iteration drawn uniformly from ``ns``. Returns the step-2 losses; ``callback(it, net)`` after each."""
    from .training import InstMoveLoss, two_step_iteration

    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    loss_fn, losses = InstMoveLoss(), []
    net.train()
    for it in range(iterations):
        n = int(ns[rng.integers(len(ns))])
        losses.append(two_step_iteration(net, opt, loss_fn, make_batch(rng, batch, net.size, n), step2_trainable)[1])
        if callback is not None:
            callback(it + 1, net)
    return losses


def model_predictor(net, threshold: float = 0.5):
    @torch.no_grad()
    def predict(past: torch.Tensor) -> torch.Tensor:
        net.eval()
        return net(past, phase=2).logits[:, 0].sigmoid() > threshold

    return predict
