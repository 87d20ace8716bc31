"""Overlay writer: GIF/mp4 frame count and size, per-track colour tint, input forms, errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from detectron2.data import Metadata
from PIL import Image

from vidseg.structures import VideoInstances
from vidseg.utils import track_color, write_overlay

T, H, W = 4, 48, 80
ALPHA = 0.5


def _video() -> tuple[np.ndarray, VideoInstances, np.ndarray]:
    """Distinct grey frames; track 3 (a square) in every frame, track 7 (a bar) absent in frame 2."""
    frames = np.stack([np.full((H, W, 3), 20 + 30 * t, np.uint8) for t in range(T)])
    masks = np.zeros((2, T, H, W), bool)
    masks[0, :, 8:32, 6:30] = True
    masks[1, :, 10:40, 44:76] = True
    masks[1, 2] = False
    vi = VideoInstances.from_dense(masks, [0.9, 0.6], [0, 1], track_ids=[3, 7], frame_idx=[5, 6, 7, 8])
    return frames, vi, masks


def _read_gif(path) -> list[np.ndarray]:
    im = Image.open(path)
    out = []
    for i in range(im.n_frames):
        im.seek(i)
        out.append(np.asarray(im.convert("RGB")).astype(np.int32))
    return out


def _interior(mask: np.ndarray, margin: int = 3) -> np.ndarray:
    """Mask pixels at least ``margin`` px from its border (away from the drawn polygon edge)."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool)


def _expected_tint(frame_value: int, track_id: int) -> np.ndarray:
    return ALPHA * 255 * np.array(track_color(track_id)) + (1 - ALPHA) * frame_value


def test_track_colours_are_stable_and_distinct():
    assert track_color(3) == track_color(3)
    assert len({track_color(i) for i in range(1, 30)}) == 29
    assert all(0.0 <= c <= 1.0 for c in track_color(12345))


def test_gif_has_t_frames_and_tracks_carry_their_tint(tmp_path):
    frames, vi, masks = _video()
    path = write_overlay(frames, vi, tmp_path / "v.gif", None, alpha=ALPHA, show_labels=False)
    out = _read_gif(path)
    assert len(out) == T
    assert all(o.shape == (H, W, 3) for o in out)
    for t in range(T):
        base = 20 + 30 * t
        for k, tid in enumerate([3, 7]):
            inside = _interior(masks[k, t])
            if not masks[k, t].any():
                region = _interior(masks[k, 0])
                assert np.abs(out[t][region] - base).max() <= 2  # absent in this frame: untinted
                continue
            assert inside.sum() > 50
            np.testing.assert_allclose(out[t][inside], np.broadcast_to(_expected_tint(base, tid), (inside.sum(), 3)),
                                       atol=3)
        background = ~(masks[0, t] | masks[1, t])
        background = ~cv2.dilate(background.astype(np.uint8) ^ 1, np.ones((7, 7), np.uint8)).astype(bool)
        assert np.abs(out[t][background] - base).max() <= 2


def test_labels_leave_most_of_the_mask_tinted(tmp_path):
    frames, vi, masks = _video()
    meta = Metadata(thing_classes=["cat", "dog"])
    out = _read_gif(write_overlay(frames, vi, tmp_path / "v.gif", meta, alpha=ALPHA, show_labels=True))
    inside = _interior(masks[0, 0])
    close = (np.abs(out[0][inside] - _expected_tint(20, 3)) <= 3).all(axis=1)
    assert close.mean() > 0.5
    # the caption changed some pixels compared with the unlabelled rendering
    plain = _read_gif(write_overlay(frames, vi, tmp_path / "p.gif", meta, alpha=ALPHA, show_labels=False))
    assert (out[0] != plain[0]).any()


def test_record_with_file_names_picks_frame_idx(tmp_path):
    frames, vi, masks = _video()
    names = []
    for i in range(10):  # the record holds 10 frames; vi covers frames 5..8
        p = tmp_path / f"{i:05d}.png"
        value = 20 + 30 * (i - 5) if 5 <= i <= 8 else 255
        cv2.imwrite(str(p), np.full((H, W, 3), value, np.uint8))
        names.append(str(p))
    record = {"video_id": 1, "file_names": names, "height": H, "width": W}
    from_record = _read_gif(write_overlay(record, vi, tmp_path / "r.gif", show_labels=False))
    from_arrays = _read_gif(write_overlay(frames, vi, tmp_path / "a.gif", show_labels=False))
    assert len(from_record) == T
    for a, b in zip(from_record, from_arrays):
        np.testing.assert_array_equal(a, b)
    from_paths = _read_gif(write_overlay(names[5:9], vi, tmp_path / "f.gif", show_labels=False))
    np.testing.assert_array_equal(from_paths[1], from_arrays[1])


def test_mp4_has_t_frames(tmp_path):
    frames, vi, _ = _video()
    path = write_overlay(frames, vi, tmp_path / "v.mp4", show_labels=False)
    cap = cv2.VideoCapture(path)
    n, shape = 0, None
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n, shape = n + 1, img.shape
    cap.release()
    assert n == T and shape == (H, W, 3)


def test_bad_inputs(tmp_path):
    frames, vi, _ = _video()
    with pytest.raises(ValueError, match="expected a .gif or .mp4"):
        write_overlay(frames, vi, tmp_path / "v.avi")
    with pytest.raises(ValueError, match="got 3 frames"):
        write_overlay(frames[:3], vi, tmp_path / "v.gif")
    with pytest.raises(ValueError, match=r"expected an RGB image of size \(48, 80\)"):
        write_overlay(frames[:, :40], vi, tmp_path / "v.gif")
    with pytest.raises(ValueError, match="out of range"):
        write_overlay({"video_id": 2, "file_names": ["a.jpg"]}, vi, tmp_path / "v.gif")
