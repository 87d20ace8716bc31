"""2D / 3D sine position encodings against hand-computed values and invariants."""
import math

import pytest
import torch

from vidseg.modeling.transformer import PositionEmbeddingSine, PositionEmbeddingSine3D


def test_2d_unnormalised_values_by_hand():
    pe = PositionEmbeddingSine(4, temperature=10000, normalize=False)
    out = pe(torch.zeros(1, 7, 3, 5))
    assert out.shape == (1, 8, 3, 5)
    # F = 4: divisors 1, 1, 10000**(2/4) = 100, 100; coordinates are 1-based
    y, x = 2, 4  # pixel (row 2, col 4) -> y' = 3, x' = 5
    expected = [math.sin(3), math.cos(3), math.sin(3 / 100), math.cos(3 / 100),
                math.sin(5), math.cos(5), math.sin(5 / 100), math.cos(5 / 100)]
    torch.testing.assert_close(out[0, :, y, x], torch.tensor(expected), atol=1e-6, rtol=1e-6)


def test_2d_normalised_range_and_content_independence():
    pe = PositionEmbeddingSine(8)
    a = pe(torch.randn(2, 3, 4, 6))
    b = pe(torch.zeros(2, 5, 4, 6))
    torch.testing.assert_close(a, b)
    # channel 0 is sin(2*pi*y'/H): the last row reaches 2*pi
    torch.testing.assert_close(a[0, 0, :, 0], torch.sin(2 * math.pi * torch.arange(1, 5) / 4.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(a[0, 8, 0, :], torch.sin(2 * math.pi * torch.arange(1, 7) / 6.0), atol=1e-5, rtol=0)


def test_2d_padding_mask_gives_the_unpadded_encoding():
    pe = PositionEmbeddingSine(6)
    mask = torch.zeros(1, 5, 7, dtype=torch.bool)
    mask[:, 3:, :] = True
    mask[:, :, 4:] = True
    padded = pe(torch.zeros(1, 1, 5, 7), mask)
    torch.testing.assert_close(padded[..., :3, :4], pe(torch.zeros(1, 1, 3, 4)))


def test_3d_is_2d_plus_temporal_code():
    f, t = 4, 3
    pe3 = PositionEmbeddingSine3D(f)
    out = pe3(torch.zeros(2, t, 9, 5, 6))
    assert out.shape == (2, t, 2 * f, 5, 6)
    pos2d = PositionEmbeddingSine(f)(torch.zeros(2, 1, 5, 6))
    for k in range(t):
        z = 2 * math.pi * (k + 1) / t
        code = torch.tensor([
            math.sin(z / 10000 ** (2 * (i // 2) / (2 * f))) if i % 2 == 0 else math.cos(z / 10000 ** (2 * (i // 2) / (2 * f)))
            for i in range(2 * f)
        ])
        torch.testing.assert_close(out[:, k] - pos2d, code.view(1, -1, 1, 1).expand_as(pos2d), atol=1e-5, rtol=0)


def test_3d_time_is_normalised_by_clip_length():
    pe3 = PositionEmbeddingSine3D(4)
    short = pe3(torch.zeros(1, 3, 1, 2, 2))
    long = pe3(torch.zeros(1, 6, 1, 2, 2))
    for k in range(3):  # frame k of 3 sits at the same normalised time as frame 2k+1 of 6
        torch.testing.assert_close(short[:, k], long[:, 2 * k + 1], atol=1e-5, rtol=0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="B×C×H×W"):
        PositionEmbeddingSine(4)(torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="B×T×C×H×W"):
        PositionEmbeddingSine3D(4)(torch.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match="even"):
        PositionEmbeddingSine(3)
