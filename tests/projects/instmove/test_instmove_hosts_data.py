"""The host-benchmark videos (benchmarks/instmove_hosts_data.py) contain the motion they claim: fast, turning
(non-linear) trajectories and a bar that hides the movers."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from instmove_hosts_data import LENGTH, SIZE, make_video, sample_windows, trajectory  # noqa: E402


def test_trajectories_are_fast_and_turning():
    rng = np.random.default_rng(0)
    turns, speeds = [], []
    for _ in range(20):
        c = trajectory(rng, np.array([20.0, 20.0]))
        assert c.shape == (LENGTH, 2) and (c >= 20).all() and (c <= SIZE - 20).all()
        v = np.diff(c, axis=0)
        speeds += list(np.linalg.norm(v, axis=1))
        ang = np.arctan2(v[:, 1], v[:, 0])
        turns += list(np.abs((np.diff(ang) + np.pi) % (2 * np.pi) - np.pi))
    assert np.median(speeds) > 9  # px per frame (border clamps shorten a few steps)
    assert np.median(turns) > 0.1  # rad per frame: no straight lines


def test_bar_hides_movers_and_video_is_deterministic():
    a, b = make_video(np.random.default_rng(3)), make_video(np.random.default_rng(3))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    bar = a.distractor_masks[0]
    assert bar.any() and not (a.masks & bar[None, None]).any()
    assert a.frames.shape == (LENGTH, SIZE, SIZE, 3) and a.masks.shape == (3, LENGTH, SIZE, SIZE)


def test_windows_end_with_two_visible_masks():
    tracks = [m for m in make_video(np.random.default_rng(1)).masks]
    w = sample_windows(np.random.default_rng(0), tracks, 8, 3)
    assert w.shape == (8, 4, SIZE, SIZE)
    assert w[:, -1].any(axis=(1, 2)).all() and w[:, -2].any(axis=(1, 2)).all()
