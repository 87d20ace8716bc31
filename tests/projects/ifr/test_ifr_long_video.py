"""Long videos: window-by-window inference past ``TEST.MAX_FRAMES_WHOLE`` and per-frame features computed once."""
from __future__ import annotations

import pytest
import torch

from ifr_testutils import as_video, build, make_clip
from projects.ifr.frame_cache import FrameFeatureCache

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _video(t: int) -> dict:
    clip = make_clip(t=4)
    video = as_video(clip)
    video.update(image=[clip["image"][i % 4] for i in range(t)], frame_idx=list(range(t)))
    return video


@pytest.mark.parametrize("length, decoded", [(4, [4]), (7, [3, 3, 3])])
def test_videos_longer_than_max_frames_whole_run_window_by_window(length, decoded):
    model = build("ifr.yaml", "TEST.MAX_FRAMES_WHOLE", "5", "MODEL.IFR.TEST_WINDOW", "3", "MODEL.IFR.TEST_STRIDE",
                  "2").eval()
    assert model.test_mode == "video" and model.max_frames_whole == 5
    calls: list[int] = []
    model.predictor.register_forward_pre_hook(lambda m, args, kw: calls.append(kw["num_frames"]), with_kwargs=True)
    vi = model([_video(length)])[0]["video_instances"]
    assert calls == decoded  # whole video up to 5 frames; windows at 0, 2, 4 for 7 frames
    assert vi.num_frames == length and all(len(m) == length for m in vi.masks)


def test_max_frames_whole_must_not_be_negative():
    with pytest.raises(ValueError, match="TEST.MAX_FRAMES_WHOLE"):
        build("ifr.yaml", "TEST.MAX_FRAMES_WHOLE", "-1")


def test_frame_cache_encodes_every_frame_once_and_equals_per_window_encoding():
    model = build().eval()
    frames = _video(7)["image"]
    cache = FrameFeatureCache(frames, model.preprocess, model.encode)
    with torch.no_grad():
        for start, end in ((0, 3), (2, 5), (4, 7)):
            mask_features, levels = cache.window(start, end)
            ref_mf, ref_levels = model.encode(model.preprocess(frames[start:end]).tensor)
            torch.testing.assert_close(mask_features, ref_mf, rtol=0, atol=1e-5)
            for a, b in zip(levels, ref_levels):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
            assert sorted(cache.store) == list(range(start, end))  # frames before the window are freed
    assert cache.encoded == 7
