"""Pixel decoders: contract shapes, Mask2Former parameter structure/counts, reference points, fp32 under
autocast, batch independence, gradients and config errors."""
import pytest
import torch
from detectron2.layers import ShapeSpec

from vidseg.config import get_cfg
from vidseg.modeling.pixel_decoder import (BasePixelDecoder, MSDeformAttnEncoder, MSDeformAttnPixelDecoder,
                                           build_pixel_decoder)

CHANNELS = {"res2": 8, "res3": 16, "res4": 24, "res5": 40}
SHAPES = {k: ShapeSpec(channels=c, stride=4 * 2**i) for i, (k, c) in enumerate(CHANNELS.items())}


def tiny_cfg(name="MSDeformAttnPixelDecoder"):
    cfg = get_cfg()
    pd = cfg.MODEL.PIXEL_DECODER
    pd.NAME, pd.CONV_DIM, pd.MASK_DIM, pd.ENCODER_LAYERS, pd.NUM_HEADS, pd.DIM_FEEDFORWARD = name, 32, 24, 2, 4, 64
    return cfg


def features(batch=2, h=64, w=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(batch, c, -(-h // s.stride), -(-w // s.stride), generator=g)
            for (k, c), s in zip(CHANNELS.items(), SHAPES.values())}


@pytest.mark.parametrize("name", ["MSDeformAttnPixelDecoder", "BasePixelDecoder"])
@pytest.mark.parametrize("hw", [(64, 96), (70, 90)])
def test_contract_shapes(name, hw):
    torch.manual_seed(0)
    dec = build_pixel_decoder(tiny_cfg(name), SHAPES).eval()
    feats = features(2, *hw)
    mask, multi = dec.forward_features(feats)
    assert mask.shape == (2, 24) + tuple(feats["res2"].shape[-2:])
    assert len(multi) == 3
    assert [tuple(m.shape[-2:]) for m in multi] == [tuple(feats[k].shape[-2:]) for k in ("res5", "res4", "res3")]
    assert all(m.shape[:2] == (2, 32) for m in multi)


def test_reference_points_are_pixel_centres():
    ref = MSDeformAttnEncoder.reference_points([(1, 2), (2, 1)], batch=3, device=torch.device("cpu"))
    expected = torch.tensor([[0.25, 0.5], [0.75, 0.5], [0.5, 0.25], [0.5, 0.75]])
    assert ref.shape == (3, 4, 2, 2)
    for lvl in range(2):
        torch.testing.assert_close(ref[1, :, lvl], expected)


def test_mask2former_structure_and_parameter_count():
    """Full-size decoder (R50 channels): parameters per part equal the counts of Mask2Former's modules."""
    shapes = {k: ShapeSpec(channels=c, stride=4 * 2**i) for i, (k, c) in enumerate(
        {"res2": 256, "res3": 512, "res4": 1024, "res5": 2048}.items())}
    dec = build_pixel_decoder(get_cfg(), shapes)
    d, heads, levels, points, ffn = 256, 8, 3, 4, 1024
    msda = (d * heads * levels * points * 2 + heads * levels * points * 2  # sampling_offsets
            + d * heads * levels * points + heads * levels * points  # attention_weights
            + 2 * (d * d + d))  # value_proj, output_proj
    layer = msda + 2 * (2 * d) + (d * ffn + ffn) + (ffn * d + d)  # norms, linear1, linear2
    counts = {}
    for n, p in dec.named_parameters():
        counts[n.split(".")[0]] = counts.get(n.split(".")[0], 0) + p.numel()
    assert counts["encoder"] == 6 * layer + levels * d
    assert counts["input_proj"] == sum(c * d + d + 2 * d for c in (2048, 1024, 512))  # conv + GroupNorm
    assert counts["lateral_convs"] == 256 * d + 2 * d  # 1x1 conv without bias + GN
    assert counts["output_convs"] == 9 * d * d + 2 * d
    assert counts["mask_features"] == d * d + d
    gn = dec.input_proj[0][1]
    assert isinstance(gn, torch.nn.GroupNorm) and gn.num_groups == 32


def test_runs_in_fp32_under_autocast():
    dec = build_pixel_decoder(tiny_cfg(), SHAPES).eval()
    feats = {k: v.to(torch.bfloat16) for k, v in features(1, 64, 64).items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mask, multi = dec.forward_features(feats)
    assert mask.dtype == torch.float32 and all(m.dtype == torch.float32 for m in multi)


@pytest.mark.parametrize("name", ["MSDeformAttnPixelDecoder", "BasePixelDecoder"])
def test_batch_independence_and_all_parameters_used(name):
    torch.manual_seed(0)
    dec = build_pixel_decoder(tiny_cfg(name), SHAPES).eval()
    feats = features(2, 48, 64)
    mask, multi = dec.forward_features(feats)
    mask1, multi1 = dec.forward_features({k: v[1:] for k, v in feats.items()})
    torch.testing.assert_close(mask[1:], mask1, atol=1e-5, rtol=1e-4)
    for a, b in zip(multi, multi1):
        torch.testing.assert_close(a[1:], b, atol=1e-5, rtol=1e-4)
    if name == "MSDeformAttnPixelDecoder":
        # at init the sampling offsets / attention weights ignore the query (zero weights), so the positional
        # and level embeddings get zero gradient; give those weights values to see every parameter's gradient
        with torch.no_grad():
            for layer in dec.encoder.layers:
                torch.nn.init.normal_(layer.self_attn.sampling_offsets.weight, std=0.1)
                torch.nn.init.normal_(layer.self_attn.attention_weights.weight, std=0.1)
        mask, multi = dec.forward_features(feats)
    (mask.square().mean() + sum(m.square().mean() for m in multi)).backward()
    assert [n for n, p in dec.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_deformable_encoder_mixes_scales():
    """Encoder outputs at stride 8 depend on the res5 input (multi-scale attention); the res2 input reaches the
    mask features only through the FPN level, not the multi-scale maps."""
    torch.manual_seed(0)
    dec = build_pixel_decoder(tiny_cfg(), SHAPES).eval()
    with torch.no_grad():
        for layer in dec.encoder.layers:  # spread attention over all levels
            torch.nn.init.normal_(layer.self_attn.attention_weights.weight, std=0.5)
    feats = features(1, 64, 64)
    mask, multi = dec.forward_features(feats)
    changed = dict(feats, res5=torch.randn_like(feats["res5"]))  # (a constant shift would be removed by GN)
    _, multi2 = dec.forward_features(changed)
    assert not torch.allclose(multi[2], multi2[2], atol=1e-4)
    mask3, multi3 = dec.forward_features(dict(feats, res2=torch.randn_like(feats["res2"])))
    assert not torch.allclose(mask, mask3, atol=1e-4)
    for a, b in zip(multi, multi3):
        torch.testing.assert_close(a, b)


def test_config_errors_name_the_key():
    cfg = tiny_cfg()
    cfg.MODEL.PIXEL_DECODER.NAME = "NoSuchDecoder"
    with pytest.raises(ValueError, match="MODEL.PIXEL_DECODER.NAME"):
        build_pixel_decoder(cfg, SHAPES)
    cfg = tiny_cfg()
    cfg.MODEL.PIXEL_DECODER.DEFORM_IN_FEATURES = ["res4", "res5"]
    with pytest.raises(ValueError, match="DEFORM_IN_FEATURES"):
        build_pixel_decoder(cfg, SHAPES)
    cfg = tiny_cfg()
    cfg.MODEL.PIXEL_DECODER.IN_FEATURES = ["res3", "res4", "res5"]  # stride 4 needs res2
    with pytest.raises(ValueError, match="COMMON_STRIDE"):
        build_pixel_decoder(cfg, SHAPES)
    cfg = tiny_cfg("BasePixelDecoder")
    cfg.MODEL.PIXEL_DECODER.IN_FEATURES = ["res2", "res7"]
    with pytest.raises(ValueError, match="IN_FEATURES"):
        build_pixel_decoder(cfg, SHAPES)


def test_common_stride_8_has_no_fpn_level():
    cfg = tiny_cfg()
    cfg.MODEL.PIXEL_DECODER.COMMON_STRIDE = 8
    dec = build_pixel_decoder(cfg, SHAPES)
    assert isinstance(dec, MSDeformAttnPixelDecoder) and len(dec.lateral_convs) == 0
    mask, _ = dec.forward_features(features(1, 64, 64))
    assert mask.shape[-2:] == (8, 8)
    assert isinstance(build_pixel_decoder(tiny_cfg("BasePixelDecoder"), SHAPES), BasePixelDecoder)
