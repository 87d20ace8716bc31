"""``D2SwinTransformer`` computes Mask2Former's Swin at any input size.

The reference below is written independently of the model: it reads a state dict in Mask2Former's key layout
(patch merging at the end of stage i, ``norm0..norm3``, ``relative_position_index`` buffers) built here from the
architecture alone, and evaluates every window of every block one by one with explicit index arithmetic: the
block zero-pads its normalised map to a multiple of the window, then shifts by half a window; inside a shifted
window two tokens may attend without penalty iff they lie on the same side of the wrap-around in both axes of the
padded grid, otherwise -100 is added (Mask2Former's mask). The model loads the same dict through the checkpoint
converter. 360×640 and 480×864 have stages that are not multiples of the window 12 (Swin-B/L-384), 384×384 has
none. A shift-then-pad variant of the reference (what timm computes) must differ at the first two sizes, so the
sizes do discriminate the two orders.
"""
import math
import pickle

import pytest
import torch
from torch.nn import functional as F

from vidseg.modeling.backbone import D2SwinTransformer

EMBED, DEPTHS, HEADS, WS = 16, (2, 2, 2, 2), (2, 2, 4, 4), 12


def mask2former_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """Random weights in Mask2Former's Swin layout, scaled so that attention is far from uniform."""
    g = torch.Generator().manual_seed(seed)

    def lin(out_f, in_f, bias=True):
        w = torch.randn(out_f, in_f, generator=g) / math.sqrt(in_f)
        return (w, 0.1 * torch.randn(out_f, generator=g)) if bias else (w,)

    def ln(dim):
        return 1 + 0.2 * torch.randn(dim, generator=g), 0.2 * torch.randn(dim, generator=g)

    sd = {}

    def put(prefix, tensors, names=("weight", "bias")):
        for n, t in zip(names, tensors):
            sd[f"{prefix}.{n}"] = t

    put("patch_embed.proj", (torch.randn(EMBED, 3, 4, 4, generator=g) / math.sqrt(48),
                             0.1 * torch.randn(EMBED, generator=g)))
    put("patch_embed.norm", ln(EMBED))
    ys, xs = torch.meshgrid(torch.arange(WS), torch.arange(WS), indexing="ij")
    for i, (depth, heads) in enumerate(zip(DEPTHS, HEADS)):
        dim = EMBED * 2**i
        for j in range(depth):
            p = f"layers.{i}.blocks.{j}"
            put(f"{p}.norm1", ln(dim))
            put(f"{p}.attn.qkv", lin(3 * dim, dim))
            put(f"{p}.attn.proj", lin(dim, dim))
            sd[f"{p}.attn.relative_position_bias_table"] = torch.randn((2 * WS - 1) ** 2, heads, generator=g)
            sd[f"{p}.attn.relative_position_index"] = torch.zeros(WS * WS, WS * WS, dtype=torch.long)  # ignored
            put(f"{p}.norm2", ln(dim))
            put(f"{p}.mlp.fc1", lin(4 * dim, dim))
            put(f"{p}.mlp.fc2", lin(dim, 4 * dim))
        if i < 3:
            put(f"layers.{i}.downsample.norm", ln(4 * dim))
            put(f"layers.{i}.downsample.reduction", lin(2 * dim, 4 * dim, bias=False), names=("weight",))
        put(f"norm{i}", ln(dim))
    return sd


def layer_norm(x, sd, p):
    return F.layer_norm(x, x.shape[-1:], sd[f"{p}.weight"], sd[f"{p}.bias"], eps=1e-5)


def reference_block(x, sd, p, heads, shift, order):
    """One Swin block, window by window. x: (H, W, C) of one image."""
    h, w, c = x.shape
    hp, wp = math.ceil(h / WS) * WS, math.ceil(w / WS) * WS
    y = layer_norm(x, sd, f"{p}.norm1")

    def source(i, n, n_pad):  # shifted-grid index -> index into the unpadded map, or -1 for a padded token
        if order == "pad_then_shift":
            r = (i + shift) % n_pad
            return r if r < n else -1
        return (i + shift) % n if i < n else -1  # shift the unpadded map, then pad (timm)

    rows = torch.tensor([source(i, h, hp) for i in range(hp)])  # -1 where the shifted grid holds padding
    cols = torch.tensor([source(j, w, wp) for j in range(wp)])
    r_idx, c_idx = rows[:, None].expand(hp, wp), cols[None, :].expand(hp, wp)
    valid = (r_idx >= 0) & (c_idx >= 0)
    grid = torch.zeros(hp, wp, c)
    grid[valid] = y[r_idx[valid], c_idx[valid]]
    table = sd[f"{p}.attn.relative_position_bias_table"]
    wq, bq = sd[f"{p}.attn.qkv.weight"], sd[f"{p}.attn.qkv.bias"]
    result = torch.zeros(hp, wp, c)
    d = c // heads
    for a in range(hp // WS):
        for b in range(wp // WS):
            cells = torch.tensor([(a * WS + u, b * WS + v) for u in range(WS) for v in range(WS)])  # (n, 2)
            tokens = grid[cells[:, 0], cells[:, 1]]
            q, k, v = (tokens @ wq.T + bq).split(c, dim=-1)
            dy = cells[:, None, 0] - cells[None, :, 0] + WS - 1
            dx = cells[:, None, 1] - cells[None, :, 1] + WS - 1
            penalty = torch.zeros(len(cells), len(cells))
            if shift:
                wrapped_r, wrapped_c = cells[:, 0] >= hp - shift, cells[:, 1] >= wp - shift
                apart = (wrapped_r[:, None] != wrapped_r[None]) | (wrapped_c[:, None] != wrapped_c[None])
                penalty[apart] = -100.0
            attn_out = []
            for hd in range(heads):
                qh, kh, vh = (t[:, hd * d:(hd + 1) * d] for t in (q, k, v))
                logits = (qh * d**-0.5) @ kh.T + table[dy * (2 * WS - 1) + dx, hd] + penalty
                attn_out.append(logits.softmax(-1) @ vh)
            res = torch.cat(attn_out, -1) @ sd[f"{p}.attn.proj.weight"].T + sd[f"{p}.attn.proj.bias"]
            result[cells[:, 0], cells[:, 1]] = res
    out = torch.zeros_like(y)
    out[r_idx[valid], c_idx[valid]] = result[valid]
    x = x + out
    z = layer_norm(x, sd, f"{p}.norm2") @ sd[f"{p}.mlp.fc1.weight"].T + sd[f"{p}.mlp.fc1.bias"]
    return x + F.gelu(z) @ sd[f"{p}.mlp.fc2.weight"].T + sd[f"{p}.mlp.fc2.bias"]


def reference_swin(img, sd, order="pad_then_shift"):
    """img (3, H, W) -> {res_k: (C_k, ceil(H/s), ceil(W/s))}."""
    _, h, w = img.shape
    img = F.pad(img, (0, (-w) % 4, 0, (-h) % 4))
    patches = img.unfold(1, 4, 4).unfold(2, 4, 4).permute(1, 2, 0, 3, 4).flatten(2)  # (H/4, W/4, 3*4*4)
    x = patches @ sd["patch_embed.proj.weight"].flatten(1).T + sd["patch_embed.proj.bias"]
    x = layer_norm(x, sd, "patch_embed.norm")
    outs = {}
    for i, (depth, heads) in enumerate(zip(DEPTHS, HEADS)):
        for j in range(depth):
            x = reference_block(x, sd, f"layers.{i}.blocks.{j}", heads, 0 if j % 2 == 0 else WS // 2, order)
        outs[f"res{i + 2}"] = layer_norm(x, sd, f"norm{i}").permute(2, 0, 1)
        if i < 3:
            hh, ww = x.shape[:2]
            x = F.pad(x, (0, 0, 0, ww % 2, 0, hh % 2))
            x = torch.cat([x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]], -1)
            x = layer_norm(x, sd, f"layers.{i}.downsample.norm") @ sd[f"layers.{i}.downsample.reduction.weight"].T
    return outs


def max_rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    sd = mask2former_state_dict(seed=0)
    path = tmp_path_factory.mktemp("swin") / "m2f_swin.pkl"
    with open(path, "wb") as f:  # as Mask2Former model files: numpy arrays in a pickle
        pickle.dump({"model": {k: v.numpy() for k, v in sd.items()}, "__author__": "third_party"}, f)
    model = D2SwinTransformer(embed_dim=EMBED, depths=DEPTHS, num_heads=HEADS, window_size=WS,
                              drop_path_rate=0.0, weights=str(path)).eval()
    return sd, model


@pytest.mark.parametrize("hw, timm_differs", [((360, 640), True), ((480, 864), True), ((384, 384), False)])
def test_features_equal_the_per_window_mask2former_reference(weights, hw, timm_differs):
    sd, model = weights
    img = torch.randn(3, *hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = {k: v[0] for k, v in model(img[None]).items()}
        ref = reference_swin(img, sd)
    assert list(ours) == ["res2", "res3", "res4", "res5"]
    for k in ref:
        assert ours[k].shape == ref[k].shape, k
        assert max_rel_err(ours[k], ref[k]) <= 1e-5, (k, max_rel_err(ours[k], ref[k]))
    if timm_differs:  # rolling before padding is a different function at these sizes: the test can fail
        shifted_first = reference_swin(img, sd, order="shift_then_pad")
        assert max_rel_err(shifted_first["res5"], ref["res5"]) > 1e-2
    else:
        shifted_first = reference_swin(img, sd, order="shift_then_pad")
        assert max_rel_err(shifted_first["res5"], ref["res5"]) <= 1e-5


def test_equals_timm_swin_where_the_two_orders_agree(weights):
    """At 384×384 (every stage a multiple of 12) timm's Swin, given the same weights, is the same function."""
    from timm.models.swin_transformer import SwinTransformer

    _, model = weights
    timm_swin = SwinTransformer(img_size=384, embed_dim=EMBED, depths=DEPTHS, num_heads=HEADS, window_size=WS,
                                always_partition=True, dynamic_img_size=True, num_classes=0).eval()
    missing, unexpected = timm_swin.load_state_dict(
        {k.removeprefix("trunk."): v for k, v in model.state_dict().items() if k.startswith("trunk.")}, strict=False)
    assert unexpected == [] and set(missing) <= {"norm.weight", "norm.bias"}
    x = torch.randn(2, 3, 384, 384)
    with torch.no_grad():
        ours = model(x)["res5"]
        ref = model.out_norms["res5"](timm_swin.layers(timm_swin.patch_embed(x))).permute(0, 3, 1, 2)
    assert max_rel_err(ours, ref) <= 1e-5
