"""Paper-001 flow encoding (paper 001) on hand-made fields with hand-computed pixel values."""
import math

import numpy as np
import pytest
import torch
from detectron2.data import transforms as T

from vidseg.config import get_cfg
from vidseg.data.flow import FlowEncoder, encode_flow, mirrors_horizontally
from vidseg.data.transforms import apply_flow

H, W = 3, 4  # diagonal D = 5


def _const(u: float, v: float, h: int = H, w: int = W) -> np.ndarray:
    f = np.zeros((h, w, 2), np.float32)
    f[...] = (u, v)
    return f


@pytest.mark.parametrize(
    "u, v, magnitude, angle",
    [
        (0.0, 0.0, 0.0, 127.5),  # zero flow: same angle code as rightward motion
        (3.0, 0.0, 6 * 3 / 5, 127.5),  # rightward: atan2(0, 3) = 0
        (0.0, 3.0, 6 * 3 / 5, 191.25),  # downward (image y): +pi/2
        (0.0, -3.0, 6 * 3 / 5, 63.75),  # upward: -pi/2
        (-3.0, 0.0, 6 * 3 / 5, 255.0),  # leftward: atan2(0, -3) = +pi -> top of the range
        (3.0, 4.0, 6.0, 255 * (math.atan2(4, 3) + math.pi) / (2 * math.pi)),  # |f| = D -> magnitude 6
        (30.0, 0.0, 6.0, 127.5),  # |f| > D clipped at D
    ],
)
def test_known_vectors_give_known_pixels(u, v, magnitude, angle):
    enc = encode_flow(_const(u, v))
    assert enc.shape == (H, W, 3) and enc.dtype == np.float32
    np.testing.assert_array_equal(enc[..., 0], 0.0)
    np.testing.assert_allclose(enc[..., 1], magnitude, rtol=1e-6)
    np.testing.assert_allclose(enc[..., 2], angle, rtol=1e-6)


def test_leftward_angle_wraps_between_0_and_255():
    f = _const(-3.0, 0.0)
    f[0, 0, 1] = -1e-6  # a hair upward: atan2 -> -pi
    enc = encode_flow(f)
    assert enc[0, 0, 2] == pytest.approx(0.0, abs=1e-4) and enc[1, 1, 2] == pytest.approx(255.0)


def test_low_magnitude_threshold_zeroes_the_angle():
    f = _const(0.0, 3.0)
    f[0, 0] = (0.0, 0.5)
    enc = encode_flow(f, low_magnitude_threshold=1.0)
    assert enc[0, 0, 2] == 0.0 and enc[1, 1, 2] == pytest.approx(191.25)
    assert enc[0, 0, 1] == pytest.approx(6 * 0.5 / 5)  # the magnitude channel is untouched


def test_scales_and_explicit_diagonal():
    enc = encode_flow(_const(2.0, 0.0), diagonal=10.0, mag_scale=5.0, angle_scale=1.0)
    np.testing.assert_allclose(enc[..., 1], 5.0 * 2 / 10)
    np.testing.assert_allclose(enc[..., 2], 0.5)


def test_png_quantization_within_one_step_and_constant_frames_are_finite():
    rng = np.random.default_rng(0)
    f = rng.normal(0, 4, size=(20, 30, 2)).astype(np.float32)
    exact, quant = encode_flow(f), encode_flow(f, emulate_png_quantization=True)
    mag = np.hypot(f[..., 0], f[..., 1])
    d = math.hypot(20, 30)
    mag_step = (mag.max() - mag.min()) / 255 / (d / 6)
    assert np.all(np.abs(quant[..., 1] - exact[..., 1]) <= mag_step + 1e-6)
    assert np.all((exact[..., 2] - quant[..., 2] >= 0) & (exact[..., 2] - quant[..., 2] < 1.0))  # truncation
    assert np.all(quant[..., 2] == np.floor(quant[..., 2]))
    const = encode_flow(_const(1.0, 1.0), emulate_png_quantization=True)
    assert np.isfinite(const).all()
    np.testing.assert_allclose(const[..., 1], 6 * math.sqrt(2) / 5, rtol=1e-6)


def test_magnitude_channel_is_invariant_to_rescaling():
    f = np.random.default_rng(1).normal(0, 2, size=(16, 24, 2)).astype(np.float32)
    up = np.repeat(np.repeat(f, 2, axis=0), 2, axis=1) * 2  # 2x larger frame, vectors x2
    small, large = encode_flow(f), encode_flow(up)
    np.testing.assert_allclose(large[::2, ::2, 1], small[..., 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(large[::2, ::2, 2], small[..., 2], rtol=1e-5, atol=1e-4)


def _random_field(seed=2, h=12, w=16):
    return np.random.default_rng(seed).normal(0, 3, size=(h, w, 2)).astype(np.float32)


def test_flip_correct_equals_encoding_the_mirrored_field_with_u_negated():
    f = _random_field()
    mirrored = f[:, ::-1].copy()
    mirrored[..., 0] *= -1
    enc = FlowEncoder(flip_mode="correct").encode_transformed(f, T.HFlipTransform(16))
    np.testing.assert_allclose(enc, encode_flow(mirrored), atol=1e-5)


def test_flip_naive_mirrors_the_encoded_image_only():
    f = _random_field()
    for resize_mode in ("raw", "encoded"):
        enc = FlowEncoder(flip_mode="naive", resize_mode=resize_mode).encode_transformed(f, T.HFlipTransform(16))
        np.testing.assert_allclose(enc, encode_flow(f)[:, ::-1], atol=1e-5)


def test_resize_modes():
    f = _random_field()
    tfm = T.TransformList([T.ResizeTransform(12, 16, 24, 32), T.HFlipTransform(32)])
    raw = FlowEncoder(resize_mode="raw").encode_transformed(f, tfm)
    np.testing.assert_allclose(raw, encode_flow(apply_flow(tfm, f)), atol=1e-5)
    enc = FlowEncoder(resize_mode="encoded").encode_transformed(f, tfm)
    negated = f.copy()
    negated[..., 0] *= -1
    np.testing.assert_allclose(enc, tfm.apply_image(encode_flow(negated)), atol=1e-5)
    assert raw.shape == enc.shape == (24, 32, 3)
    # away from angle wrap-around and motion edges both resize paths agree on a smooth field
    smooth = _const(2.0, 1.0, 12, 16)
    a = FlowEncoder(resize_mode="raw").encode_transformed(smooth, tfm)
    b = FlowEncoder(resize_mode="encoded").encode_transformed(smooth, tfm)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_mirrors_horizontally():
    assert mirrors_horizontally(T.HFlipTransform(8))
    assert not mirrors_horizontally(T.TransformList([T.HFlipTransform(8), T.HFlipTransform(8)]))
    assert not mirrors_horizontally(T.ResizeTransform(4, 8, 8, 16))


def test_encoder_from_config_and_tensor_path():
    cfg = get_cfg()
    cfg.INPUT.FLOW.MAG_SCALE = 3.0
    enc = FlowEncoder(cfg)
    flow = torch.zeros(2, H, W)
    flow[0] = 3.0
    out = enc.encode_tensor(flow)
    assert out.shape == (3, H, W) and out.dtype == torch.float32
    torch.testing.assert_close(out[1], torch.full((H, W), 3.0 * 3 / 5))
    cfg.INPUT.FLOW.FLIP_MODE = "sideways"
    with pytest.raises(ValueError, match="INPUT.FLOW.FLIP_MODE='sideways'"):
        FlowEncoder(cfg)
    with pytest.raises(ValueError, match="H×W×2"):
        encode_flow(np.zeros((3, 4, 3)))
