"""Frame sampling of ISVOS training (spec §3.4, XMem ``VOSDataset``) and training reference selection (§2.5)."""
from __future__ import annotations

import numpy as np


def sample_vos_frames(length: int, num_frames: int, max_skip: int, *, skip_divisor: int = 1,
                      rng: np.random.Generator | None = None) -> list[int]:
    """XMem's sampler: a random first index, then indices one at a time from the union of ±max_jump windows
    around the chosen ones (no repeats); sorted, reversed with probability 0.5. ``max_jump = max_skip //
    skip_divisor`` (5 for YouTube-VOS, annotated every 5th frame), at least 1."""
    if length < num_frames:
        raise ValueError(f"sample_vos_frames: video of {length} frames is shorter than the clip ({num_frames})")
    rng = rng if rng is not None else np.random.default_rng()
    jump = max(max_skip // max(skip_divisor, 1), 1)
    chosen = [int(rng.integers(length))]
    candidates: set[int] = set()
    while len(chosen) < num_frames:
        last = chosen[-1]
        candidates.update(range(max(0, last - jump), min(length, last + jump + 1)))
        candidates.difference_update(chosen)
        if not candidates:  # every frame near the chosen ones is taken: widen to the whole video
            candidates = set(range(length)) - set(chosen)
        pick = sorted(candidates)[int(rng.integers(len(candidates)))]
        chosen.append(pick)
    chosen.sort()
    return chosen[::-1] if rng.random() < 0.5 else chosen


def reference_frames(t: int, num_ref: int = 3, rng: np.random.Generator | None = None) -> list[int]:
    """Memory frames read when predicting clip frame t (XMem ``num_ref_frames``): every earlier frame when
    t <= num_ref, else frame 0 plus num_ref - 1 distinct random frames of 1..t-1 (sorted)."""
    if t < 1:
        raise ValueError(f"reference_frames: frame {t} has no earlier frame")
    if t <= num_ref:
        return list(range(t))
    rng = rng if rng is not None else np.random.default_rng()
    others = rng.choice(np.arange(1, t), size=num_ref - 1, replace=False)
    return [0, *sorted(int(i) for i in others)]
