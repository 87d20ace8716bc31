"""ISVOS + motion prior (InstMove plug-in, issue 11 item 4(c), InstMove spec §5.5): the prior's predicted mask is an
extra decoder input; ``none`` is the plain model, and the fusion starts as the identity."""
import numpy as np
import pytest
import torch
from detectron2.utils.events import EventStorage

from projects.isvos.motion import MotionFusion
from vidseg.tracking.motion import shift_mask
from vidseg.vos import VOSEngine

from isvos_testutils import as_video, square_clip, tiny_cfg, tiny_model


def _run(model, cfg, video, spy=None):
    """Stream a video through a fresh engine; per frame (probs, motion passed to segment or None)."""
    engine = VOSEngine(model.eval(), cfg)
    seen = []
    segment = model.segment

    def recording(*a, **k):
        seen.append(k.get("motion"))
        return segment(*a, **k)

    model.segment = recording
    probs = []
    try:
        with torch.no_grad():
            for t, frame in enumerate(video["image"]):
                init = video["vos_init"].get(t)
                masks = init.gt_masks.tensor if init is not None else None
                probs.append(engine.step(frame, masks, [1, 2] if init is not None else None)["probs"])
    finally:
        del model.segment
    return probs, seen


def _perturbed(model):
    """Give the motion channel of the fusion conv non-zero weights (a 'trained' fusion)."""
    with torch.no_grad():
        model.motion_fusion.conv.weight[:, -1].normal_(0, 2.0)
    return model


def test_none_is_plain_model_and_fusion_starts_as_identity():
    video = as_video(square_clip(t=4, k=2, seed=5))
    plain_cfg = tiny_cfg()
    plain = tiny_model()
    assert plain.motion_fusion is None and plain.motion_prior is None
    none = tiny_model("MODEL.MOTION_PRIOR.NAME", "none")
    assert set(none.state_dict()) == set(plain.state_dict())
    ref, seen = _run(plain, plain_cfg, video)
    assert all(m is None for m in seen)  # no motion argument at all without a prior
    out, _ = _run(none, tiny_cfg("MODEL.MOTION_PRIOR.NAME", "none"), video)
    assert all(torch.equal(a, b) for a, b in zip(ref, out))
    # a copy_last model loaded from the plain weights: only the fusion is new, and at init it changes nothing
    cfg = tiny_cfg("MODEL.MOTION_PRIOR.NAME", "copy_last")
    withm = tiny_model("MODEL.MOTION_PRIOR.NAME", "copy_last", seed=1)
    missing = withm.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["motion_fusion.conv.bias", "motion_fusion.conv.weight"]
    out, _ = _run(withm, cfg, video)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ref, out))


@pytest.mark.parametrize("prior", ["copy_last", "linear"])
def test_prior_mask_reaches_decoder_and_changes_output(prior):
    video = as_video(square_clip(t=4, k=2, seed=5))
    plain = tiny_model()
    cfg = tiny_cfg("MODEL.MOTION_PRIOR.NAME", prior)
    model = tiny_model("MODEL.MOTION_PRIOR.NAME", prior)
    model.load_state_dict(plain.state_dict(), strict=False)
    _perturbed(model)
    ref, _ = _run(plain, tiny_cfg(), video)
    out, seen = _run(model, cfg, video)
    # frame t's motion input is the prior applied to the engine's own labels of the earlier frames
    labels = [p.argmax(0).numpy() for p in out]
    checked = 0
    for t in range(1, 4):
        m = seen[t - 1][0].numpy() > 0.5  # segment is first called at frame 1
        for j in (1, 2):
            last = labels[t - 1] == j
            expected = last
            if prior == "linear" and t >= 2:  # shifted by the rounded centroid step between frames t-2 and t-1
                before = labels[t - 2] == j
                if not (last.any() and before.any()):
                    continue
                dy, dx = np.rint(np.argwhere(last).mean(0) - np.argwhere(before).mean(0)).astype(int)
                expected = shift_mask(last, int(dy), int(dx))
            assert np.array_equal(m[j - 1], expected), (t, j)
            checked += 1
    assert checked >= 4
    assert any(not torch.allclose(a, b, atol=1e-4) for a, b in zip(ref[1:], out[1:]))
    # the same trained model with the prior switched off sees zeros on the motion channel: the plain output
    off, seen_off = _run(model, tiny_cfg("MODEL.MOTION_PRIOR.NAME", "none"), video)
    assert all(m is None for m in seen_off) and all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ref, off))


def test_training_with_prior_backpropagates_into_fusion():
    clip = square_clip(t=3, k=2, seed=2)
    model = tiny_model("MODEL.MOTION_PRIOR.NAME", "copy_last").train()
    with EventStorage(0):
        losses = model([clip])
    sum(losses.values()).backward()
    g = model.motion_fusion.conv.weight.grad
    assert g is not None and g[:, -1].abs().sum() > 0  # the motion channel receives gradient


def test_motion_fusion_shapes_and_zero_motion():
    fusion = MotionFusion(4)
    x = torch.randn(2, 3, 4, 5, 6)
    assert torch.allclose(fusion(x, None), x, atol=1e-6)
    with torch.no_grad():
        fusion.conv.weight[:, -1, 1, 1] = 1.0
    ones = fusion(x, torch.ones(2, 3, 20, 24))
    assert torch.allclose(ones, x + 1.0, atol=1e-5)  # centre tap of the motion channel adds the (resized) map
