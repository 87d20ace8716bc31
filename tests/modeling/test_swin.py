"""``D2SwinTransformer``: shapes for any input size, variant table vs timm, activation checkpointing, local weight
loading in the Microsoft, Mask2Former and timm layouts (checked against an independent patch-merging
implementation), error messages. Parity with Mask2Former's Swin: ``test_swin_parity.py``."""
import pickle

import pytest
import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone
from torch.nn import functional as F

from vidseg.config import get_cfg
from vidseg.modeling.backbone import SWIN_VARIANTS, D2SwinTransformer

SMALL = dict(embed_dim=16, depths=(1, 2, 1, 1), num_heads=(1, 2, 2, 4), window_size=4, drop_path_rate=0.0)


def small_swin(**kw):
    torch.manual_seed(kw.pop("seed", 0))
    return D2SwinTransformer(**{**SMALL, **kw}).eval()


@pytest.mark.parametrize("hw", [(64, 96), (70, 90), (33, 17)])
def test_output_shapes_any_input_size(hw):
    m = small_swin()
    out = m(torch.randn(2, 3, *hw))
    assert list(out) == ["res2", "res3", "res4", "res5"]
    for name, spec in m.output_shape().items():
        s = spec.stride
        assert out[name].shape == (2, spec.channels, -(-hw[0] // s), -(-hw[1] // s))
    assert [spec.channels for spec in m.output_shape().values()] == [16, 32, 64, 128]
    assert [spec.stride for spec in m.output_shape().values()] == [4, 8, 16, 32]
    assert m.size_divisibility == 32


def test_out_feature_subset_prunes_later_stages_and_all_params_get_gradients():
    m = small_swin(out_features=("res4", "res3")).train()
    assert len(m.trunk.layers) == 3 and set(m.out_norms) == {"res3", "res4"}
    out = m(torch.randn(1, 3, 40, 40))
    assert list(out) == ["res3", "res4"]
    sum(o.square().mean() for o in out.values()).backward()
    no_grad = [n for n, p in m.named_parameters() if p.grad is None]
    assert no_grad == []  # no unused parameters (DDP needs none)


def test_batch_independence():
    m = small_swin()
    x = torch.randn(3, 3, 48, 40)
    both = m(x)
    single = m(x[1:2])
    for k in both:
        torch.testing.assert_close(both[k][1:2], single[k], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("variant", sorted(SWIN_VARIANTS))
def test_variant_table_matches_timm_models(variant):
    import timm

    spec = SWIN_VARIANTS[variant]
    ref = timm.create_model(spec.timm_name, pretrained=False, device="meta")
    assert ref.embed_dim == spec.embed_dim
    assert tuple(len(stage.blocks) for stage in ref.layers) == spec.depths
    assert tuple(stage.blocks[0].attn.num_heads for stage in ref.layers) == spec.num_heads
    assert ref.layers[0].blocks[0].window_size == (spec.window_size, spec.window_size)
    assert ref.patch_embed.img_size == (spec.pretrain_img_size, spec.pretrain_img_size)
    cfg = get_cfg()
    cfg.MODEL.SWIN.VARIANT = variant
    args = D2SwinTransformer.from_config(cfg, ShapeSpec(channels=3))
    assert (args["embed_dim"], args["depths"], args["window_size"]) == (spec.embed_dim, spec.depths, spec.window_size)


def test_build_from_config_registry():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    cfg.MODEL.SWIN.VARIANT = "tiny_224"
    cfg.MODEL.SWIN.OUT_FEATURES = ["res5"]
    m = build_backbone(cfg).eval()
    assert isinstance(m, D2SwinTransformer)
    assert m.output_shape()["res5"] == ShapeSpec(channels=768, stride=32)
    with torch.no_grad():
        assert m(torch.randn(1, 3, 32, 32))["res5"].shape == (1, 768, 1, 1)


def test_config_errors_name_the_key():
    cfg = get_cfg()
    cfg.MODEL.SWIN.VARIANT = "huge_512"
    with pytest.raises(ValueError, match="MODEL.SWIN.VARIANT"):
        D2SwinTransformer.from_config(cfg)
    with pytest.raises(ValueError, match="MODEL.SWIN.OUT_FEATURES"):
        D2SwinTransformer(**SMALL, out_features=("res6",))
    with pytest.raises(FileNotFoundError, match="MODEL.SWIN.WEIGHTS"):
        D2SwinTransformer(**SMALL, weights="/nonexistent/swin.pth")


def original_patch_merging(x, norm, reduction):
    """Patch merging as written in the original Swin code: x (B, H, W, C) -> (B, H/2, W/2, 2C)."""
    x0, x1 = x[:, 0::2, 0::2], x[:, 1::2, 0::2]
    x2, x3 = x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    return reduction(norm(torch.cat([x0, x1, x2, x3], -1)))


def test_timm_patch_merging_equals_original_so_weights_copy_unchanged():
    m = small_swin()
    merge = m.trunk.layers[1].downsample
    x = torch.randn(2, 6, 10, 16)
    torch.testing.assert_close(merge(x), original_patch_merging(x, merge.norm, merge.reduction))


def microsoft_layout(ours: dict) -> dict:
    """Our keys -> the original Swin classification checkpoint layout (+ head, final norm, index buffers)."""
    out = {}
    for k, v in ours.items():
        k = k.removeprefix("trunk.")
        for i in (1, 2, 3):
            k = k.replace(f"layers.{i}.downsample.", f"layers.{i - 1}.downsample.")
        if k.startswith("out_norms."):
            continue
        out[k] = v.clone()
        if k.endswith("attn.qkv.weight"):
            out[k.replace("qkv.weight", "relative_position_index")] = torch.zeros(16, 16, dtype=torch.long)
    out["norm.weight"], out["norm.bias"] = torch.ones(128), torch.zeros(128)
    out["head.weight"], out["head.bias"] = torch.randn(1000, 128), torch.zeros(1000)
    return out


def mask2former_layout(ours: dict) -> dict:
    """Our keys -> Mask2Former's D2SwinTransformer layout (Microsoft layout + norm0..norm3)."""
    out = {k: v for k, v in microsoft_layout(ours).items() if not k.startswith(("head.", "norm."))}
    for i in range(4):
        for p in ("weight", "bias"):
            out[f"norm{i}.{p}"] = ours[f"out_norms.res{i + 2}.{p}"].clone()
    return out


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], msg=k)


def test_load_microsoft_layout_pth(tmp_path):
    src = small_swin(seed=1)
    path = tmp_path / "swin_ms.pth"
    torch.save({"model": microsoft_layout(src.state_dict())}, path)
    dst = small_swin(seed=2, weights=str(path))
    sd_src, sd_dst = src.state_dict(), dst.state_dict()
    for k in sd_src:
        if k.startswith("out_norms."):
            continue  # not in an ImageNet checkpoint: stays at LayerNorm init
        torch.testing.assert_close(sd_dst[k], sd_src[k], msg=k)
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        dst.out_norms.load_state_dict(src.out_norms.state_dict())
        torch.testing.assert_close(dst(x)["res5"], src(x)["res5"])


def test_load_mask2former_layout_pkl_with_numpy_arrays(tmp_path):
    src = small_swin(seed=3)
    path = tmp_path / "swin_d2.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in mask2former_layout(src.state_dict()).items()},
                     "__author__": "third_party"}, f)
    _assert_same_weights(small_swin(seed=4, weights=str(path)), src)


def test_load_timm_layout_safetensors(tmp_path):
    from safetensors.torch import save_file

    src = small_swin(seed=5)
    timm_sd = {k.removeprefix("trunk."): v.contiguous() for k, v in src.state_dict().items() if k.startswith("trunk.")}
    path = tmp_path / "swin_timm.safetensors"
    save_file(timm_sd, str(path))
    dst = small_swin(seed=6, weights=str(path))
    for k, v in src.state_dict().items():
        if k.startswith("trunk."):
            torch.testing.assert_close(dst.state_dict()[k], v, msg=k)


def test_window_size_mismatch_is_interpolated(tmp_path):
    src = small_swin(seed=7, window_size=3)  # (2*3-1)^2 = 25 entries per table
    path = tmp_path / "w3.pth"
    torch.save(src.state_dict(), path)
    dst = small_swin(seed=8, window_size=4, weights=str(path))  # 49 entries
    table = dst.state_dict()["trunk.layers.0.blocks.0.attn.relative_position_bias_table"]
    assert table.shape == (49, 1)
    # the centre of the interpolated table (zero offset) keeps the source's zero-offset bias
    centre_src = src.state_dict()["trunk.layers.0.blocks.0.attn.relative_position_bias_table"].view(5, 5, 1)[2, 2]
    torch.testing.assert_close(table.view(7, 7, 1)[3, 3], centre_src, atol=1e-4, rtol=1e-4)


def test_weights_file_without_swin_keys_is_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="no Swin parameter"):
        small_swin(weights=str(path))
    wrong = tmp_path / "wrong_variant.pth"
    torch.save(small_swin(embed_dim=24, num_heads=(1, 2, 2, 4)).state_dict(), wrong)
    with pytest.raises(ValueError, match="shape mismatch"):
        small_swin(weights=str(wrong))


def test_input_must_be_rgb_nchw():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        small_swin()(torch.randn(1, 1, 32, 32))


def test_padding_only_to_patch_multiple():
    m = small_swin()
    x = torch.randn(1, 3, 30, 22)
    padded = F.pad(x, (0, 2, 0, 2))
    with torch.no_grad():
        torch.testing.assert_close(m(x)["res2"], m(padded)["res2"])


def test_activation_checkpointing_gives_the_same_outputs_and_gradients():
    x = torch.randn(1, 3, 50, 70)
    grads = []
    for ckpt in (False, True):
        m = small_swin(use_checkpoint=ckpt).train()
        out = m(x)
        sum(o.square().mean() for o in out.values()).backward()
        grads.append(({k: v.detach() for k, v in out.items()},
                      {n: p.grad for n, p in m.named_parameters()}))
    for a, b in zip(grads[0], grads[1]):
        for k in a:
            torch.testing.assert_close(a[k], b[k], msg=k)
