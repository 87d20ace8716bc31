"""Videos of the InstMove host benchmark (``benchmarks/instmove_hosts.py``): the motion paper 000 targets.

Each video (192×192, 24 frames) holds 3 movers drawn from the built-in synthetic VIS look (classes square / disk /
triangle with their colours and textures, same textured background; ``vidseg.data.datasets.synthetic.render``), so
hosts trained on ``synth_vis_train_large`` detect them. What differs from that set is the motion, which is not
constant-velocity in any respect (the setting of OVIS / YouTube-VIS where paper 000 reports its gains):

- curved: the velocity turns by ω = 0.10–0.30 rad per frame, the turning direction flips every 5–9 frames
  (S-curves), and the mover reflects at the borders (bounces);
- accelerating: at every flip the mover picks a new target speed in 4–18 px per frame and approaches it by 40 %
  of the gap per frame (speed-ups and braking; objects of 17–27 px half-extent);
- scale change: the size follows 1 + 0.25·sin(2πt / P + φ), P = 14–30 frames (approaching / receding);
- deformation: squash and stretch (the two half-extents oscillate in antiphase by ±15 %) and a wobble of the
  shape's orientation (±0.35 rad);
- occlusion: a fixed depth order between movers (they hide each other where they cross) plus a static grey bar
  (vertical or horizontal, 14–22 px wide) drawn *over* them; ground truth = visible masks (an object hidden by the
  bar is absent in that frame).

The same generator, with a different seed, gives the InstMove prior's training masks (as the paper trains one
InstMove per dataset on that dataset's training split): nothing here is specific to any prior.
"""
from __future__ import annotations

import numpy as np

from vidseg.data.datasets.synthetic.render import (CLASS_COLORS, NEUTRAL_COLOR, SynthVideo, _background,
                                                   _paint, shape_mask)

SIZE, LENGTH, MOVERS = 192, 24, 3
SPEED_RANGE = (4.0, 18.0)  # px per frame
SCALE_AMPLITUDE, SQUASH_AMPLITUDE, WOBBLE = 0.25, 0.15, 0.35


def trajectory(rng: np.random.Generator, half: np.ndarray) -> np.ndarray:
    """LENGTH×2 centres (x, y): arcs with flipping turn direction and changing speed, reflected at the borders
    (the centre stays ``half`` away from them)."""
    speed = rng.uniform(*SPEED_RANGE)
    target = rng.uniform(*SPEED_RANGE)
    ang = rng.uniform(0, 2 * np.pi)
    omega = rng.uniform(0.10, 0.30) * rng.choice([-1, 1])
    flip_in = int(rng.integers(5, 10))
    c = np.array([rng.uniform(half[0], SIZE - half[0]), rng.uniform(half[1], SIZE - half[1])])
    out = np.zeros((LENGTH, 2))
    for t in range(LENGTH):
        out[t] = c
        ang += omega
        flip_in -= 1
        if flip_in == 0:
            omega, flip_in = -omega, int(rng.integers(5, 10))
            target = rng.uniform(*SPEED_RANGE)
        speed += 0.4 * (target - speed)
        v = speed * np.array([np.cos(ang), np.sin(ang)])
        nxt = c + v
        for ax in range(2):
            if not half[ax] <= nxt[ax] <= SIZE - half[ax]:  # reflect: mirror the heading on this axis
                v[ax] = -v[ax]
                nxt[ax] = float(np.clip(c[ax] + v[ax], half[ax], SIZE - half[ax]))
        ang = float(np.arctan2(v[1], v[0]))
        c = nxt
    return out


def shape_track(rng: np.random.Generator, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame half-extents (LENGTH×2: scale change × squash-and-stretch) and orientations (LENGTH, rad)."""
    t = np.arange(LENGTH)
    scale = 1 + SCALE_AMPLITUDE * np.sin(2 * np.pi * t / rng.uniform(14, 30) + rng.uniform(0, 2 * np.pi))
    squash = SQUASH_AMPLITUDE * np.sin(rng.uniform(0.3, 0.7) * t + rng.uniform(0, 2 * np.pi))
    halves = half[None] * scale[:, None] * np.stack([1 + squash, 1 - squash], axis=1)
    angles = WOBBLE * np.sin(rng.uniform(0.2, 0.5) * t + rng.uniform(0, 2 * np.pi))
    return halves, angles


def make_video(rng: np.random.Generator, appearance: str = "varied") -> SynthVideo:
    """One video (frames, visible masks K×T×H×W, classes). ``appearance="same_class"``: every mover takes the first
    mover's class (shape and base colour) with its own colour jitter and texture; ``"identical"``: the first
    mover's class, colour and texture (same-looking instances, the crowded same-category scenes of OVIS where paper
    000 reports its largest gains); the random stream, hence motion, sizes and occluders, is the same as with
    ``"varied"``, so the two sets are paired video by video."""
    if appearance not in ("varied", "same_class", "identical"):
        raise ValueError(f"appearance: expected 'varied', 'same_class' or 'identical', got {appearance!r}")
    bg = _background(rng, SIZE, SIZE)
    movers = []
    for _ in range(MOVERS):
        cls = int(rng.integers(3))
        if appearance == "same_class" and movers:  # same shape and base colour, own colour jitter and texture
            cls = movers[0][0]
        half = rng.uniform(17, 27) * rng.uniform(0.9, 1.1, size=2)
        color = np.clip(CLASS_COLORS[cls] + rng.normal(0, 12, size=3), 0, 255).astype(np.float32)
        tex = np.array([rng.uniform(1.5, 3.0), rng.uniform(1.5, 3.0), rng.uniform(0, 2 * np.pi)])
        halves, angles = shape_track(rng, half)
        if appearance == "identical" and movers:
            cls, color, tex = movers[0][0], movers[0][4], movers[0][5]
        movers.append((cls, halves, angles, trajectory(rng, half), color, tex))  # enlarged, it may leave the frame
    bar = np.zeros((SIZE, SIZE), bool)
    lo, width = int(rng.integers(40, 130)), int(rng.integers(14, 23))
    if rng.random() < 0.5:
        bar[:, lo : lo + width] = True
    else:
        bar[lo : lo + width, :] = True
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    frames = np.zeros((LENGTH, SIZE, SIZE, 3), np.uint8)
    owner = np.zeros((LENGTH, SIZE, SIZE), np.int16)
    for t in range(LENGTH):
        img = bg.copy()
        for k, (cls, halves, angles, centers, color, tex) in enumerate(movers):  # list order = bottom to top
            dx, dy = xs - centers[t, 0], ys - centers[t, 1]
            cos, sin = np.cos(angles[t]), np.sin(angles[t])
            qx, qy = (cos * dx + sin * dy) / halves[t, 0], (-sin * dx + cos * dy) / halves[t, 1]
            inside = shape_mask(cls, qx, qy)
            _paint(img, inside, qx, qy, color, tex)
            owner[t][inside] = k + 1
        img[bar] = NEUTRAL_COLOR * (0.9 + 0.1 * np.sin(xs[bar] / 5.0))[:, None]
        owner[t][bar] = 0
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    masks = owner[None] == (np.arange(MOVERS) + 1).reshape(-1, 1, 1, 1)
    return SynthVideo(frames=frames, masks=masks, classes=[m[0] for m in movers],
                      flows=np.zeros((0, SIZE, SIZE, 2), np.float32), distractor_masks=bar[None].repeat(LENGTH, 0),
                      distractor_class=-1)


def mask_tracks(rng: np.random.Generator, num_videos: int) -> list[np.ndarray]:
    """Visible-mask tracks (T×H×W bool) of ``num_videos`` generated videos, masks only (prior training data)."""
    return [m for _ in range(num_videos) for m in make_video(rng).masks]


def sample_windows(rng: np.random.Generator, tracks: list[np.ndarray], batch: int, n: int) -> np.ndarray:
    """(batch, n + 1, H, W) windows of n + 1 consecutive masks of one track whose last two masks are non-empty."""
    out = []
    while len(out) < batch:
        tr = tracks[int(rng.integers(len(tracks)))]
        t = int(rng.integers(n, tr.shape[0]))
        win = tr[t - n : t + 1]
        if win[-1].any() and win[-2].any():
            out.append(win[:, ::-1] if rng.random() < 0.5 else win)  # vertical flip half of the time
    return np.stack(out)
