"""Deterministic renderer of synthetic videos: moving, deforming, occluding shapes with exact forward flow.

Each video holds 2–3 *movers* of the shape classes ``square / disk / triangle`` (class colour with a smooth
texture defined in the shape's own coordinates) on a static textured background, plus one static
*distractor*: either a shape with the look of a mover's class (``distractor="class"``, for moving-object
segmentation) or a neutral grey cross (``distractor="neutral"``). A mover's pixel ``p`` in frame t lies at
``q = (p - c_t) / s_t`` in shape coordinates (centre ``c_t``, per-axis scale ``s_t``), so it moves to
``c_{t+1} + s_{t+1} * q`` in frame t+1: that displacement is the exact flow, 0 on background and distractor.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CLASS_NAMES = ("square", "disk", "triangle")
CLASS_COLORS = np.array([[225, 60, 50], [50, 200, 70], [60, 95, 235]], dtype=np.float32)  # RGB per class
NEUTRAL_COLOR = np.array([150, 150, 150], dtype=np.float32)
CROSS = -1  # shape code of the neutral distractor


@dataclass(kw_only=True)
class Mover:
    """One object's trajectory: ``centers`` T×2 (x, y), ``scales`` T×2 (sx, sy) half-extents in pixels."""

    cls: int
    centers: np.ndarray
    scales: np.ndarray
    color: np.ndarray
    tex: np.ndarray  # (a, b, phase) of the texture sin(a*qx + b*qy + phase)


@dataclass(kw_only=True)
class SynthVideo:
    """A rendered video.

    Attributes:
        frames: T×H×W×3 uint8 RGB.
        masks: K×T×H×W bool visible masks of the movers (after occlusion and cropping).
        classes: K shape classes of the movers (0 square, 1 disk, 2 triangle).
        flows: (T-1)×H×W×2 float32 forward flow (u, v) from frame t to t+1.
        distractor_masks: T×H×W bool visible part of the static distractor per frame.
        distractor_class: its shape class (``CROSS`` for the neutral one).
    """

    frames: np.ndarray
    masks: np.ndarray
    classes: list[int]
    flows: np.ndarray
    distractor_masks: np.ndarray
    distractor_class: int


def shape_mask(shape: int, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Inside test in shape coordinates (the shape spans [-1, 1]²)."""
    if shape == 0:
        return np.maximum(np.abs(qx), np.abs(qy)) <= 1.0
    if shape == 1:
        return qx * qx + qy * qy <= 1.0
    if shape == 2:  # apex (0, -1), base from (-1, 1) to (1, 1); y points down
        return (qy <= 1.0) & (np.abs(qx) <= (qy + 1.0) / 2.0)
    if shape == CROSS:
        ax, ay = np.abs(qx), np.abs(qy)
        return ((ax <= 0.35) & (ay <= 1.0)) | ((ay <= 0.35) & (ax <= 1.0))
    raise ValueError(f"unknown shape code {shape}")


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Static H×W×3 float32 texture: smooth low-frequency colour field plus fine grain."""
    grey = rng.uniform(60, 140, size=(h // 8 + 2, w // 8 + 2, 1))
    coarse = (grey + rng.normal(0, 12, size=(h // 8 + 2, w // 8 + 2, 3))).astype(np.float32)
    smooth = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return smooth + rng.normal(0, 6, size=(h, w, 3)).astype(np.float32)


def _trajectory(rng: np.random.Generator, *, t: int, h: int, w: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Centres and scales of one mover. ``mode``: ``bounce`` (stays in view), ``enter`` (starts outside the
    left/right border and comes in), ``leave`` (no bouncing, drifts out)."""
    base = min(h, w)
    s0 = rng.uniform(0.10, 0.17) * base * rng.uniform(0.85, 1.15, size=2)
    speed = rng.uniform(0.035, 0.07) * base
    ang = rng.uniform(0, 2 * np.pi)
    vel = speed * np.array([np.cos(ang), np.sin(ang)])
    c = np.array([rng.uniform(s0[0], w - s0[0]), rng.uniform(s0[1], h - s0[1])])
    if mode == "enter":
        side = rng.integers(2)
        arrive = rng.integers(2, max(3, t // 2) + 1)
        vel = np.array([(2.2 * s0[0] + 0.05 * w) / arrive, rng.uniform(-0.3, 0.3) * speed])
        c[0] = -1.1 * s0[0]
        if side:
            c[0], vel[0] = w - c[0], -vel[0]
    freq, phase = rng.uniform(0.3, 0.8, size=2), rng.uniform(0, 2 * np.pi, size=2)
    centers, scales = np.zeros((t, 2)), np.zeros((t, 2))
    for i in range(t):
        scales[i] = s0 * (1.0 + 0.08 * np.sin(freq * i + phase))
        centers[i] = c
        vel = vel + rng.normal(0, 0.03 * speed, size=2)
        nxt = c + vel
        if mode != "leave":
            for ax, lim in ((0, w), (1, h)):
                inside = s0[ax] <= c[ax] <= lim - s0[ax]
                if inside and not s0[ax] <= nxt[ax] <= lim - s0[ax]:
                    vel[ax] = -vel[ax]
            nxt = c + vel
        c = nxt
    return centers, scales


def _mover(rng: np.random.Generator, cls: int, *, t: int, h: int, w: int, mode: str) -> Mover:
    centers, scales = _trajectory(rng, t=t, h=h, w=w, mode=mode)
    color = np.clip(CLASS_COLORS[cls] + rng.normal(0, 12, size=3), 0, 255).astype(np.float32)
    tex = np.array([rng.uniform(1.5, 3.0), rng.uniform(1.5, 3.0), rng.uniform(0, 2 * np.pi)])
    return Mover(cls=cls, centers=centers, scales=scales, color=color, tex=tex)


def _box(center: np.ndarray, scale: np.ndarray, h: int, w: int) -> tuple[slice, slice] | None:
    """Pixel window (rows, cols) holding the shape's [-1, 1]² extent, or None when it lies outside the frame."""
    y0, y1 = max(int(np.floor(center[1] - scale[1])), 0), min(int(np.ceil(center[1] + scale[1])) + 1, h)
    x0, x1 = max(int(np.floor(center[0] - scale[0])), 0), min(int(np.ceil(center[0] + scale[0])) + 1, w)
    return (slice(y0, y1), slice(x0, x1)) if y0 < y1 and x0 < x1 else None


def _shape_in_box(
    shape: int, center: np.ndarray, scale: np.ndarray, box: tuple[slice, slice]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shape coordinates (qx, qy) of the window's pixel centres and the inside mask."""
    ys, xs = np.mgrid[box]
    qx, qy = (xs - center[0]) / scale[0], (ys - center[1]) / scale[1]
    return qx, qy, shape_mask(shape, qx, qy)


def _paint(
    img: np.ndarray, inside: np.ndarray, qx: np.ndarray, qy: np.ndarray, color: np.ndarray, tex: np.ndarray
) -> None:
    """Fill ``img[inside]`` with ``color`` shaded by the texture sin(a*qx + b*qy + phase) of the shape."""
    shade = 0.85 + 0.15 * np.sin(tex[0] * qx[inside] + tex[1] * qy[inside] + tex[2])
    img[inside] = shade[:, None] * color[None, :]


def render_video(
    seed: int | tuple[int, ...],
    *,
    num_frames: int,
    height: int,
    width: int,
    classes: tuple[int, ...] = (0, 1, 2),
    distractor: str = "neutral",
    motion_mode: str = "bounce",
) -> SynthVideo:
    """Render one video; identical ``seed`` and arguments give identical arrays.

    Args:
        classes: shape classes movers are drawn from.
        distractor: ``class`` (looks like one of the movers' classes) or ``neutral`` (grey cross).
        motion_mode: mode of the first mover (``bounce``, ``enter`` or ``leave``); the others bounce.
    """
    rng = np.random.default_rng(seed)
    t, h, w = num_frames, height, width
    bg = _background(rng, h, w)
    n = int(rng.integers(2, 4))
    movers = [
        _mover(rng, int(rng.choice(classes)), t=t, h=h, w=w, mode=motion_mode if k == 0 else "bounce")
        for k in range(n)
    ]
    z_order = [int(k) for k in rng.permutation(n)]  # painted first = bottom
    d_cls = int(movers[int(rng.integers(n))].cls) if distractor == "class" else CROSS
    d_scale = rng.uniform(0.10, 0.15) * min(h, w) * np.ones(2)
    d_center = np.array([rng.uniform(d_scale[0], w - d_scale[0]), rng.uniform(d_scale[1], h - d_scale[1])])
    d_color = (
        np.clip(CLASS_COLORS[d_cls] + rng.normal(0, 12, size=3), 0, 255).astype(np.float32)
        if d_cls != CROSS else NEUTRAL_COLOR
    )
    d_tex = np.array([rng.uniform(1.5, 3.0), rng.uniform(1.5, 3.0), rng.uniform(0, 2 * np.pi)])

    frames = np.zeros((t, h, w, 3), dtype=np.uint8)
    owner = np.zeros((t, h, w), dtype=np.int16)  # 0 background, -1 distractor, k+1 mover k
    flows = np.zeros((max(t - 1, 0), h, w, 2), dtype=np.float32)
    static = bg.copy()
    box = _box(d_center, d_scale, h, w)
    if box is not None:
        dqx, dqy, d_inside = _shape_in_box(d_cls, d_center, d_scale, box)
        _paint(static[box], d_inside, dqx, dqy, d_color, d_tex)
        owner[(slice(None),) + box][:, d_inside] = -1
    for i in range(t):
        img = static.copy()
        for k in z_order:
            m = movers[k]
            box = _box(m.centers[i], m.scales[i], h, w)
            if box is None:
                continue
            qx, qy, inside = _shape_in_box(m.cls, m.centers[i], m.scales[i], box)
            _paint(img[box], inside, qx, qy, m.color, m.tex)
            owner[i][box][inside] = k + 1
            if i + 1 < t:
                ys, xs = np.mgrid[box]
                nxt_c, nxt_s = m.centers[i + 1], m.scales[i + 1]
                fl = flows[i][box]
                fl[inside, 0] = nxt_c[0] + nxt_s[0] * qx[inside] - xs[inside]
                fl[inside, 1] = nxt_c[1] + nxt_s[1] * qy[inside] - ys[inside]
        frames[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    masks = owner[None] == (np.arange(n) + 1).reshape(-1, 1, 1, 1)
    return SynthVideo(
        frames=frames,
        masks=masks,
        classes=[m.cls for m in movers],
        flows=flows,
        distractor_masks=owner == -1,
        distractor_class=d_cls,
    )
