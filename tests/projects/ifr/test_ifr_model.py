"""The IFR meta-architecture from the tiny configs: training losses, gradients, causality, inference outputs
(paper 003, and the per-method checks of ``docs/architecture.md``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from detectron2.utils.events import EventStorage

import projects.ifr.meta_arch as meta_arch
from ifr_testutils import as_video, build, make_clip
from projects.ifr import IFR, IFRTransformerDecoder, VideoMaskedTransformerDecoder
from projects.ifr.targets import clip_targets
from vidseg.modeling.losses import VideoSetCriterion
from vidseg.structures.masks import decode_mask

LOSS_NAMES = ("loss_ce", "loss_mask", "loss_dice")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(autouse=True)
def event_storage():
    with EventStorage(0) as storage:
        yield storage


@pytest.fixture(scope="module")
def eval_model() -> IFR:
    return build().eval()


@pytest.mark.parametrize("config, decoder, logits", [("ifr.yaml", IFRTransformerDecoder, 3),
                                                      ("ifr_m2f.yaml", VideoMaskedTransformerDecoder, 4)])
def test_builds_and_trains_one_step(config, decoder, logits, event_storage):
    model = build(config)
    assert isinstance(model, IFR) and isinstance(model.predictor, decoder)
    assert isinstance(model.criterion, VideoSetCriterion)
    assert model.predictor.class_embed.out_features == logits  # focal K, CE K+1
    assert model.criterion.cross_frame_weight == (0.3 if decoder is IFRTransformerDecoder else 0.0)
    model.train()
    losses = model([make_clip(seed=0), make_clip(seed=1)])
    expected = set(LOSS_NAMES) | {f"{k}_{i}" for k in LOSS_NAMES for i in range(3)}
    assert set(losses) == expected
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    weights = model.criterion.weight_dict
    assert weights["loss_ce"] == 2.0 and weights["loss_mask_2"] == 5.0 and weights["loss_dice_0"] == 5.0
    sum(losses.values()).backward()
    if decoder is IFRTransformerDecoder:
        assert "loss_mask_xf" in event_storage.latest()  # the λe part is logged, not summed twice
        layer = model.predictor.ifr_layers[0]
        for module in (layer.frame_cross_attn, layer.joint_self_attn, layer.temporal_cross_attn, layer.clip_self_attn):
            grads = [p.grad for p in module.parameters()]
            assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0  # §9 item 11
    assert model.backbone.stem.conv1.weight.grad.abs().sum() > 0


def test_empty_ground_truth_clip_trains():
    model = build().train()
    losses = model([make_clip(num_objects=0), make_clip(num_objects=0, seed=3)])
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_mask"] == 0 and losses["loss_ce"] > 0
    sum(losses.values()).backward()


def test_cross_frame_loss_sends_gradient_across_frames():
    """§9 item 11: with λe > 0 the mask features of frame u get gradient from the kernel of frame t != u."""
    model = build().train()
    clip = make_clip(t=2)
    images = model.preprocess(clip["image"])
    mask_features, levels = model.encode(images.tensor)
    mask_features = mask_features.detach().requires_grad_(True)
    levels = [x.detach() for x in levels]
    targets = clip_targets([clip], tuple(images.tensor.shape[-2:]), model.device)
    crit = model.criterion
    out = model.predictor(levels, mask_features, num_frames=2, cross_frame=True)
    out.pop("aux_outputs")
    torch.manual_seed(0)
    with_xf = crit(out, targets)
    crit.cross_frame_weight = 0.0
    torch.manual_seed(0)
    without = crit(out, targets)
    crit.cross_frame_weight = 0.3
    cross_part = sum(with_xf[k] - without[k] for k in ("loss_mask", "loss_dice"))
    assert cross_part > 0
    cross_part.backward()  # the frame terms cancel: only kernel(t1) * G(t2 != t1) pairs remain
    assert mask_features.grad[0].abs().sum() > 0 and mask_features.grad[1].abs().sum() > 0


def test_recurrence_is_causal_over_frames():
    """§9 item 5: with one IFR layer, perturbing frame u leaves layer-1 masks of frames t < u unchanged, but
    changes the class logits (clip queries see every frame)."""
    model = build("ifr.yaml", "MODEL.IFR.DEC_LAYERS", "2").eval()
    clip = make_clip(t=4)
    u = 2
    with torch.no_grad():
        a = model.decode(model.preprocess(clip["image"]).tensor, 4)
        frames = list(clip["image"])
        frames[u] = torch.flip(frames[u], dims=[2])
        b = model.decode(model.preprocess(frames).tensor, 4)
    torch.testing.assert_close(a["pred_masks"][:, :, :u], b["pred_masks"][:, :, :u], atol=1e-5, rtol=0)
    assert (a["pred_masks"][:, :, u] - b["pred_masks"][:, :, u]).abs().max() > 1e-3
    assert (a["pred_logits"] - b["pred_logits"]).abs().max() > 1e-5


def _check_video_output(vi, *, length: int, height: int, width: int, num_classes: int = 3) -> None:
    assert vi.image_size == (height, width) and vi.frame_idx == list(range(length))
    assert all(0.0 <= s <= 1.0 for s in vi.scores) and all(0 <= c < num_classes for c in vi.labels)
    assert len(set(vi.track_ids)) == len(vi)
    for masks in vi.masks:
        assert len(masks) == length
        assert all(m is None or tuple(decode_mask(m).shape) == (height, width) for m in masks)


def test_inference_top_k_at_original_resolution(eval_model):
    """§9 item 15: exactly 10 (query, class) pairs per video, masks at (height, width) for every frame."""
    vi = eval_model([as_video(make_clip(t=5), height=96, width=80)])[0]["video_instances"]
    assert len(vi) == 10
    _check_video_output(vi, length=5, height=96, width=80)
    assert all(m is not None for masks in vi.masks for m in masks)  # whole-video mode encodes every frame
    eval_model.test_topk = 30  # more than N·K = 24 pairs exist
    try:
        assert len(eval_model([as_video(make_clip(t=2))])[0]["video_instances"]) == 24
    finally:
        eval_model.test_topk = 10


def test_chunked_backbone_gives_identical_outputs(eval_model):
    """§9 item 16: TEST.CLIP_CHUNK only bounds memory."""
    video = as_video(make_clip(t=5))
    whole = eval_model([video])[0]["video_instances"]
    eval_model.clip_chunk = 2
    try:
        chunked = eval_model([video])[0]["video_instances"]
    finally:
        eval_model.clip_chunk = 0
    np.testing.assert_allclose(chunked.scores, whole.scores, rtol=0, atol=1e-5)
    assert chunked.labels == whole.labels and chunked.masks == whole.masks


def test_clip_mode_runs_window_by_window(eval_model, monkeypatch):
    calls: list[int] = []
    encoded: list[int] = []
    hook = eval_model.predictor.register_forward_pre_hook(lambda m, a, kw: calls.append(kw["num_frames"]),
                                                          with_kwargs=True)
    encode = eval_model.encode
    monkeypatch.setattr(eval_model, "encode", lambda images, chunk=0: encoded.append(len(images))
                        or encode(images, chunk))
    monkeypatch.setattr(eval_model, "test_mode", "clip")
    monkeypatch.setattr(eval_model, "test_window", 3)
    monkeypatch.setattr(eval_model, "test_stride", 2)
    try:
        vi = eval_model([as_video(make_clip(t=8))])[0]["video_instances"]
    finally:
        hook.remove()
    assert calls == [3, 3, 3, 3]  # windows start at 0, 2, 4 and 5 (the last one aligned to the video end)
    assert encoded == [3, 2, 2, 1]  # every frame through the backbone and pixel decoder once
    _check_video_output(vi, length=8, height=64, width=64)
    assert 0 < len(vi) <= 10


def test_bad_settings_fail_with_the_key_name():
    with pytest.raises(ValueError, match="TEST_MODE"):
        build("ifr.yaml", "MODEL.IFR.TEST_MODE", "online")
    with pytest.raises(ValueError, match="CLASS_LOSS"):
        build("ifr.yaml", "MODEL.IFR.CLASS_LOSS", "bce")
    model = build().train()
    with pytest.raises(ValueError, match="NUM_FRAMES"):
        model([make_clip(t=2), make_clip(t=3)])


@pytest.mark.slow
def test_clip_mode_holds_one_window_for_a_1000_frame_video(monkeypatch):
    """Issue item 4: a 1,000-frame video runs window by window; open (unencoded) frames never exceed the window."""
    open_frames: list[int] = []

    class Recording(meta_arch.MotionClipTrackAccumulator):
        def update(self, *args, **kwargs):
            out = super().update(*args, **kwargs)
            open_frames.append(len({f for tr in self.tracks for f in tr.logit_sum}))
            return out

    monkeypatch.setattr(meta_arch, "MotionClipTrackAccumulator", Recording)
    model = build("ifr.yaml", "MODEL.IFR.TEST_MODE", "clip", "MODEL.IFR.TEST_WINDOW", "5", "MODEL.IFR.TEST_STRIDE", "4",
                  "MODEL.IFR.TEST_KEEP_SCORE", "0.0").eval()
    clip = make_clip(t=4)
    video = as_video(clip)
    video.update(image=[clip["image"][t % 4] for t in range(1000)], frame_idx=list(range(1000)))
    vi = model([video])[0]["video_instances"]
    _check_video_output(vi, length=1000, height=64, width=64)
    assert len(open_frames) == 250 and max(open_frames) <= 5
