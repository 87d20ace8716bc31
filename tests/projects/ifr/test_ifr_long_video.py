"""Long videos: window-by-window inference past ``TEST.MAX_FRAMES_WHOLE`` and per-frame features computed once."""
from __future__ import annotations

import pytest
import torch

from ifr_testutils import as_video, build, make_clip
from projects.ifr.frame_cache import FrameFeatureCache
from projects.ifr.inference import window_starts
from vidseg.structures.masks import decode_mask

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


class _OraclePredictor(torch.nn.Module):
    """Stands in for the query decoder: two objects (1/4-resolution squares moving one cell per frame, object k =
    class k) on a fresh random query of every window; the other queries are low-score background."""

    def __init__(self, starts: list[int], queries: int, classes: int, consistent_embeds: bool) -> None:
        super().__init__()
        self.starts, self.queries, self.classes, self.consistent = list(starts), queries, classes, consistent_embeds
        self.g = torch.Generator().manual_seed(0)
        self.calls: list[int] = []  # frames of each window decoded

    @staticmethod
    def object_mask(k: int, f: int, h: int, w: int) -> torch.Tensor:
        m = torch.zeros(h, w, dtype=torch.bool)
        m[2 + 7 * k : 6 + 7 * k, f % (w - 4) : f % (w - 4) + 4] = True
        return m

    def forward(self, levels, mask_features, *, num_frames: int, cross_frame: bool = False) -> dict:
        start = self.starts[len(self.calls)]
        self.calls.append(num_frames)
        h, w = mask_features.shape[-2:]
        perm = torch.randperm(self.queries, generator=self.g)
        logits = torch.full((1, self.queries, self.classes), -5.0)
        masks = torch.full((1, self.queries, num_frames, h, w), -10.0)
        embeds = torch.nn.functional.normalize(torch.randn(1, self.queries, 8, generator=self.g), dim=-1)
        for k in range(2):
            q = perm[k]
            logits[0, q, k] = 5.0
            masks[0, q] = torch.stack([self.object_mask(k, start + t, h, w) for t in range(num_frames)]) * 20.0 - 10.0
            if self.consistent:
                embeds[0, q] = torch.eye(8)[k]
        return {"pred_logits": logits, "pred_masks": masks, "pred_embeds": embeds}


@pytest.mark.parametrize("length, stride, consistent_embeds", [(10, 3, False), (12, 4, True)])
def test_clip_mode_keeps_each_object_on_one_track_across_windows(length, stride, consistent_embeds):
    """Windows sharing one frame link by mask IoU alone (the embeddings are random); disjoint windows link by the
    query embeddings. Every window puts the objects on other queries, yet each object ends up on one track that
    covers the whole video, and every frame is encoded once."""
    starts = [0, 3, 6] if stride == 3 else [0, 4, 8]  # windows of 4 frames: one shared frame / none
    model = build("ifr.yaml", "MODEL.IFR.TEST_MODE", "clip", "MODEL.IFR.TEST_WINDOW", "4",
                  "MODEL.IFR.TEST_STRIDE", str(stride)).eval()
    assert window_starts(length, 4, stride) == starts
    model.predictor = _OraclePredictor(starts, 8, 3, consistent_embeds)
    encode, encoded = model.encode, []
    model.encode = lambda images, chunk=0: (encoded.append(images.shape[0]), encode(images, chunk))[1]
    vi = model([_video(length)])[0]["video_instances"]
    assert model.predictor.calls == [4, 4, 4]
    assert sum(encoded) == length
    confident = [i for i, s in enumerate(vi.scores) if s > 0.5]
    assert sorted(vi.labels[i] for i in confident) == [0, 1]
    for i in confident:
        k = vi.labels[i]
        for f in range(length):
            expected = _OraclePredictor.object_mask(k, f, 16, 16).repeat_interleave(4, 0).repeat_interleave(4, 1)
            got = torch.from_numpy(decode_mask(vi.masks[i][f])).bool()
            iou = (got & expected).sum() / (got | expected).sum()
            assert iou > 0.9, (k, f, float(iou))


def test_clip_mode_links_windows_with_the_configured_motion_prior(monkeypatch):
    """MODEL.MOTION_PRIOR reaches the window matcher (issue 11 item 4a): the accumulator IFR builds carries the linear
    prior and asks it for predictions at the later windows' first frames; with ``none`` no prior is passed (the
    accumulator then links exactly like the plain one: tests/tracking/test_clip_motion.py)."""
    from vidseg.tracking import clip_motion

    opts = ("MODEL.IFR.TEST_MODE", "clip", "MODEL.IFR.TEST_WINDOW", "3", "MODEL.IFR.TEST_STRIDE", "2")
    built: list = []
    original = clip_motion.MotionClipTrackAccumulator.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(clip_motion.MotionClipTrackAccumulator, "__init__", record)
    calls: list[int] = []
    linear = build("ifr.yaml", *opts, "MODEL.MOTION_PRIOR.NAME", "linear").eval()
    predict = linear.clip_tracker_args["motion_prior"].predict
    monkeypatch.setattr(linear.clip_tracker_args["motion_prior"], "predict",
                        lambda histories, t: calls.append(t) or predict(histories, t))
    with torch.no_grad():
        with_prior = linear([_video(7)])[0]["video_instances"]
    assert built[-1].prior is linear.clip_tracker_args["motion_prior"] and built[-1].motion_weight > 0
    assert calls and all(t in (2, 4) for t in calls)  # asked at the later windows' first frames
    plain = build("ifr.yaml", *opts).eval()
    assert plain.clip_tracker_args == {}
    with torch.no_grad():
        without = plain([_video(7)])[0]["video_instances"]
    assert len(with_prior.scores) > 0 and len(without.scores) > 0
