"""The host-benchmark videos (benchmarks/instmove_hosts_data.py) contain the motion they claim: fast, turning,
accelerating (non-linear) trajectories, scale change and deformation, and a bar that hides the movers."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from instmove_hosts_data import LENGTH, SIZE, make_video, sample_windows, shape_track, trajectory  # noqa: E402


def test_trajectories_are_fast_and_turning():
    rng = np.random.default_rng(0)
    turns, speeds, changes = [], [], []
    for _ in range(20):
        c = trajectory(rng, np.array([20.0, 20.0]))
        assert c.shape == (LENGTH, 2) and (c >= 20).all() and (c <= SIZE - 20).all()
        v = np.diff(c, axis=0)
        speed = np.linalg.norm(v, axis=1)
        speeds += list(speed)
        changes.append(speed.max() / max(speed.min(), 1e-6))
        ang = np.arctan2(v[:, 1], v[:, 0])
        turns += list(np.abs((np.diff(ang) + np.pi) % (2 * np.pi) - np.pi))
    assert np.median(speeds) > 7  # px per frame (border clamps shorten a few steps)
    assert np.median(turns) > 0.1  # rad per frame: no straight lines
    assert np.median(changes) > 1.5  # the speed changes along a path (not constant velocity)


def test_shapes_change_scale_and_deform():
    rng = np.random.default_rng(0)
    half = np.array([20.0, 20.0])
    for _ in range(10):
        halves, angles = shape_track(rng, half)
        assert halves.shape == (LENGTH, 2) and angles.shape == (LENGTH,)
        area = halves.prod(axis=1)
        assert area.max() / area.min() > 1.3  # scale change
        aspect = halves[:, 0] / halves[:, 1]
        assert aspect.max() / aspect.min() > 1.1 and np.ptp(angles) > 0.1  # squash-and-stretch, wobble
        assert (halves > 0.5 * half).all() and (halves < 1.5 * half).all()


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


def test_identical_appearance_keeps_the_motion_and_makes_movers_alike():
    for seed in range(4):
        a = make_video(np.random.default_rng(seed))
        b = make_video(np.random.default_rng(seed), "identical")
        assert np.array_equal(a.distractor_masks, b.distractor_masks)  # same bar; same paths (the shape = class may
        gaps = []  # differ, and so what hides what: compare visible centres where the mover is well visible)
        for k in range(len(a.classes)):
            for t in range(LENGTH):
                if a.masks[k, t].sum() > 400 and b.masks[k, t].sum() > 400:
                    ca, cb = (np.argwhere(m[k, t]).mean(0) for m in (a.masks, b.masks))
                    gaps.append(np.abs(ca - cb).max())
        assert len(gaps) > 20 and np.median(gaps) < 4  # px; objects are 34-54 px wide and move 4-18 px per frame
        assert len(set(b.classes)) == 1 and b.classes[0] == a.classes[0]
        t = LENGTH // 2
        colours = [b.frames[t][b.masks[k, t]].astype(float).mean(0) for k in range(len(b.classes)) if b.masks[k, t].sum() > 50]
        for c in colours[1:]:
            assert np.abs(c - colours[0]).max() < 25  # same base colour and texture (shading differs with the pose)


def test_same_class_movers_share_the_shape_but_not_the_look():
    for seed in range(4):
        a = make_video(np.random.default_rng(seed))
        c = make_video(np.random.default_rng(seed), "same_class")
        assert len(set(c.classes)) == 1 and c.classes[0] == a.classes[0]
        assert np.array_equal(a.distractor_masks, c.distractor_masks)
    with pytest.raises(ValueError, match="appearance"):
        make_video(np.random.default_rng(0), "alike")
