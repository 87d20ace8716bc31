"""Spec §8 items 1, 2, 7, 10-12, 14: shapes/strides, padding, key encoder, deformable fallback, MPF, samplers."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from projects.isvos.decoder import MPFDecoder
from projects.isvos.key_encoder import EnhancedKeyEncoder
from projects.isvos.sampling import reference_frames, sample_vos_frames
from vidseg.layers import MSDeformAttn

from isvos_testutils import tiny_model


@pytest.mark.parametrize("k", [1, 2, 3])
def test_shapes_and_strides_non_square(k):
    model = tiny_model().eval()
    frame = torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8)
    image = model.prepare(frame)
    assert image.shape[-2:] == (64, 96)
    with torch.no_grad():
        f = model.encode_frame(image)
        assert f["key"].shape == (1, 8, 4, 6)
        lv = f["levels"]
        assert [tuple(x.shape[-2:]) for x in lv] == [(2, 3), (4, 6), (8, 12)]
        # each P_i is half the size of B_i (res4 / res3 / res2)
        for p, name in zip(lv, ["res4", "res3", "res2"]):
            b = f["features"][name]
            assert (2 * p.shape[-2], 2 * p.shape[-1]) == tuple(b.shape[-2:])
        probs = torch.rand(1, k, 64, 96)
        v = model.encode_value(f, image, probs)
        assert v.shape == (1, k, 16, 4, 6)
        dec = model.mask_decoder(v, [f["features"][n] for n in ("res4", "res3", "res2")], lv, (64, 96))
        assert [tuple(o.shape[-2:]) for o in dec["features"]] == [(4, 6), (8, 12), (16, 24)]
        assert dec["logits"].shape == (1, k, 64, 96)
        out = model.segment(f, f["key"][:, :, None], v[:, :, :, None])
        assert out["probs"].shape == (1, k + 1, 64, 96)


def test_padding_round_trip():
    model = tiny_model().eval()
    frame = torch.randint(0, 255, (3, 50, 70), dtype=torch.uint8)
    image = model.prepare(frame)
    assert image.shape[-2:] == (64, 96)
    restored = image[0, :, :50, :70] * model.pixel_std + model.pixel_mean
    assert torch.allclose(restored, frame.float(), atol=1e-3)
    assert (image[0, :, 50:] == 0).all() and (image[0, :, :, 70:] == 0).all()


def _encoder(qe=True, ffn=64):
    torch.manual_seed(0)
    return EnhancedKeyEncoder(in_channels=24, key_dim=8, hidden_dim=16, num_queries=5, query_enhance=qe,
                              deform_heads=4, deform_points=2, ffn_dim=ffn)


def test_enhanced_key_encoder_similarity_gradients_and_off_switch():
    enc = _encoder()
    feat = torch.randn(2, 24, 6, 7, requires_grad=True)
    q = torch.randn(2, 5, 16, requires_grad=True)
    out = enc(feat, q, torch.randn(5, 16))
    s = out["similarity"]
    assert s.shape == (2, 5, 6, 7) and (s > 0).all() and (s < 1).all()
    assert out["key"].shape == (2, 8, 6, 7)
    out["key"].sum().backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert enc.global_conv.weight.grad.abs().sum() > 0  # gradient reaches Q_g
    off = _encoder(qe=False)
    assert {n for n, _ in off.named_parameters()} == {"key_proj.weight", "key_proj.bias"}
    x = torch.randn(1, 24, 6, 7)
    expected = torch.nn.functional.conv2d(x, off.key_proj.weight, off.key_proj.bias, padding=1)
    assert torch.allclose(off(x)["key"], expected)


def test_key_invariant_to_query_permutation_with_matching_channels():
    enc = _encoder().eval()
    feat, q, pos = torch.randn(1, 24, 6, 7), torch.randn(1, 5, 16), torch.randn(5, 16)
    key = enc(feat, q, pos)["key"]
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        w = enc.key_proj.weight.clone()
        enc.key_proj.weight[:, 16:] = w[:, 16:][:, perm]
    key_perm = enc(feat, q[:, perm], pos[perm])["key"]
    assert torch.allclose(key, key_perm, atol=1e-5)


def test_deformable_attention_constant_value_map():
    torch.manual_seed(0)
    attn = MSDeformAttn(d_model=16, n_levels=1, n_heads=4, n_points=3)
    value = torch.full((1, 20 * 20, 16), 0.7)
    shapes, start = torch.tensor([[20, 20]]), torch.zeros(1, dtype=torch.long)
    q = torch.randn(1, 4, 16)
    expected = attn.output_proj(attn.value_proj(value[:, :1]))  # every sample sees the same projected value
    outs = []
    for ref in (torch.full((1, 4, 1, 2), 0.5), torch.tensor([0.4, 0.6, 0.45, 0.55]).view(1, 4, 1, 1).repeat(1, 1, 1, 2)):
        # initial sampling offsets are at most n_points = 3 pixels: every sample stays inside the 20×20 map
        out = attn(q, ref, value, shapes, start)
        assert torch.allclose(out, expected.expand_as(out), atol=1e-4)
        outs.append(out)
    assert torch.allclose(outs[0], outs[1], atol=1e-5)


def test_mpf_zero_p_path_equals_plain_decoder_and_broadcasts():
    torch.manual_seed(0)
    kw = dict(value_dim=8, skip_dims=[12, 10, 6], pixel_dim=5, channels=[6, 4, 3])  # every block changes width: both have a skip conv
    full, plain = MPFDecoder(**kw, mpf=True), MPFDecoder(**kw, mpf=False)
    with torch.no_grad():
        for conv in full.pixel_convs:
            conv.weight.zero_()
            conv.bias.zero_()
        plain.skip_convs.load_state_dict(full.skip_convs.state_dict())
        plain.pred.load_state_dict(full.pred.state_dict())
        for bf, bp in zip(full.blocks, plain.blocks):
            c = bp.conv1.weight.shape[1]
            bp.conv1.weight.copy_(bf.conv1.weight[:, :c])
            bp.conv1.bias.copy_(bf.conv1.bias)
            bp.conv2.load_state_dict(bf.conv2.state_dict())
            if bp.downsample is not None:
                bp.downsample.weight.copy_(bf.downsample.weight[:, :c])
                bp.downsample.bias.copy_(bf.downsample.bias)
    skips = [torch.randn(2, 12, 4, 4), torch.randn(2, 10, 8, 8), torch.randn(2, 6, 16, 16)]
    pixels = [torch.randn(2, 5, 2, 2), torch.randn(2, 5, 4, 4), torch.randn(2, 5, 8, 8)]
    mem = torch.randn(2, 3, 8, 4, 4)
    a = full(mem, skips, pixels, (64, 64))["logits"]
    b = plain(mem, skips, None, (64, 64))["logits"]
    assert a.shape == (2, 3, 64, 64) and torch.allclose(a, b, atol=1e-5)
    # broadcasting over K: object 1 of sample 1 decoded alone equals its row in the batch
    single = full(mem[1:, 1:2], [s[1:] for s in skips], [p[1:] for p in pixels], (64, 64))["logits"]
    assert torch.allclose(single[0, 0], a[1, 1], atol=1e-5)


def test_frame_sampler():
    rng = np.random.default_rng(0)
    reversed_seen = False
    for _ in range(200):
        idx = sample_vos_frames(40, 8, 5, rng=rng)
        assert len(idx) == 8 and len(set(idx)) == 8
        asc = sorted(idx)
        assert idx in (asc, asc[::-1])
        reversed_seen |= idx != asc
        for i in asc:  # every index lies within max_jump of some other chosen index
            assert any(abs(i - j) <= 5 for j in asc if j != i)
    assert reversed_seen
    for _ in range(50):  # YouTube-VOS: max_jump = max_skip // 5 = 2
        asc = sorted(sample_vos_frames(40, 8, 10, skip_divisor=5, rng=rng))
        assert all(any(abs(i - j) <= 2 for j in asc if j != i) for i in asc)


def test_reference_frames():
    rng = np.random.default_rng(0)
    assert reference_frames(1, 3) == [0] and reference_frames(3, 3) == [0, 1, 2]
    for t in range(4, 8):
        for _ in range(20):
            r = reference_frames(t, 3, rng)
            assert len(r) == 3 and r[0] == 0 and len(set(r)) == 3 and all(0 < i < t for i in r[1:])


def _mpf_by_concatenation(dec: MPFDecoder, mem, skips, pixels, out_size):
    """The MPF decoder written literally (spec §2.7): Z = concat(U + B̃, up×2(P̃)) per object, O = ResBlock(Z)."""
    b, k = mem.shape[:2]
    x = mem.flatten(0, 1)
    for i, skip in enumerate(skips):
        bt = dec.skip_convs[i](skip).repeat_interleave(k, dim=0)
        pt = F.interpolate(dec.pixel_convs[i](pixels[i]), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        u = F.interpolate(x, size=bt.shape[-2:], mode="bilinear", align_corners=False)
        x = dec.blocks[i](torch.cat([u + bt, pt.repeat_interleave(k, dim=0)], 1))
    logits = F.interpolate(dec.pred(F.relu(x)), size=out_size, mode="bilinear", align_corners=False)
    return logits.view(b, k, *out_size)


@pytest.mark.parametrize("channels", [[6, 4, 3], [16, 32, 64]])  # 3x3 skip convs / identity skips (2C = C_i)
def test_mpf_shared_p_terms_equal_concatenated_resblock(channels):
    torch.manual_seed(1)
    dec = MPFDecoder(value_dim=8, skip_dims=[12, 10, 6], pixel_dim=5, channels=channels)
    skips = [torch.randn(2, 12, 4, 4), torch.randn(2, 10, 8, 8), torch.randn(2, 6, 16, 16)]
    pixels = [torch.randn(2, 5, 2, 2), torch.randn(2, 5, 4, 4), torch.randn(2, 5, 8, 8)]
    mem = torch.randn(2, 3, 8, 4, 4, requires_grad=True)
    fast = dec(mem, skips, pixels, (64, 64))["logits"]
    ref = _mpf_by_concatenation(dec, mem, skips, pixels, (64, 64))
    assert torch.allclose(fast, ref, atol=1e-5)
    g_fast = torch.autograd.grad(fast.square().sum(), [mem, dec.blocks[0].conv1.weight])
    g_ref = torch.autograd.grad(ref.square().sum(), [mem, dec.blocks[0].conv1.weight])
    assert all(torch.allclose(a, b, atol=1e-4, rtol=1e-4) for a, b in zip(g_fast, g_ref))


def test_mpf_default_widths_equal_concatenated_form_on_random_inputs():
    """Spec §2.7 widths (value 512; res4/res3/res2 1024/512/256; P 256; 512 -> 256 -> 256), 2 objects, channels-last
    fast path vs the literal concatenated decoder, same parameters."""
    torch.manual_seed(2)
    dec = MPFDecoder(value_dim=512, skip_dims=[1024, 512, 256], pixel_dim=256, channels=[512, 256, 256]).eval()
    skips = [torch.randn(1, 1024, 3, 5), torch.randn(1, 512, 6, 10), torch.randn(1, 256, 12, 20)]
    pixels = [torch.randn(1, 256, 2, 3), torch.randn(1, 256, 3, 5), torch.randn(1, 256, 6, 10)]
    mem = torch.randn(1, 2, 512, 3, 5)
    with torch.no_grad():
        fast = dec(mem, skips, pixels, (48, 80))["logits"]
        ref = _mpf_by_concatenation(dec, mem, skips, pixels, (48, 80))
    assert fast.shape == (1, 2, 48, 80)
    assert torch.allclose(fast, ref, atol=1e-4, rtol=1e-4), (fast - ref).abs().max()
