"""One IFR decoder layer against a hand-written evaluation of paper 003 Eq. 2–3 (plus the temporal update and the
heads of §3.1), from the decoder's own weights, in float64.

Written as the paper states it: for frame t, Eq. 2 attends from the previous frame's queries Q^{t-1} and from the
clip queries Q_i *separately* to frame t's tokens with one set of W^K, W^V, and concatenates; Eq. 3 runs
self-attention over the 2N queries and keeps the first N. Implementation details the paper leaves to
Mask2Former (``projects/ifr/README.md``): positions added to queries/keys, residual + LayerNorm after every attention, an FFN on
the kept frame queries, masked attention from the initial prediction (blocked where the mask probability < 0.5,
fully blocked rows opened). Q^0 = Q_i. The clip update is temporal cross-attention to all T·N frame queries,
self-attention and an FFN; class logits come from the updated clip queries, masks from per-frame kernels.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from projects.ifr import IFRTransformerDecoder
from vidseg.config import load_config

CONFIG = str(Path(__file__).resolve().parents[3] / "configs" / "tests" / "ifr.yaml")
DIM, N, T = 32, 8, 3
SIZES = ((2, 3), (4, 6), (8, 12))
MASK = (16, 24)


def ln(x, norm):
    return F.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, norm.eps)


def attn(query, key, value, mha, blocked=None):
    """Multi-head attention written out: (L, d), (S, d), (S, d) -> (L, d); ``blocked`` (heads, L, S) bool."""
    d, h = query.shape[-1], mha.num_heads
    wq, wk, wv = mha.in_proj_weight.split(d)
    bq, bk, bv = mha.in_proj_bias.split(d)
    q, k, v = query @ wq.T + bq, key @ wk.T + bk, value @ wv.T + bv
    dh = d // h
    heads = []
    for j in range(h):
        s = q[:, j * dh:(j + 1) * dh] @ k[:, j * dh:(j + 1) * dh].T / math.sqrt(dh)
        if blocked is not None:
            s = s.masked_fill(blocked[j], float("-inf"))
        heads.append(s.softmax(-1) @ v[:, j * dh:(j + 1) * dh])
    return torch.cat(heads, -1) @ mha.out_proj.weight.T + mha.out_proj.bias


def ffn(x, layer):
    return ln(x + F.relu(x @ layer.linear1.weight.T + layer.linear1.bias) @ layer.linear2.weight.T
              + layer.linear2.bias, layer.norm)


def mlp(x, head):
    for i, lin in enumerate(head.layers):
        x = x @ lin.weight.T + lin.bias
        x = F.relu(x) if i < len(head.layers) - 1 else x
    return x


def hand_evaluation(dec, levels, mask_features, recurrence=True):
    """One clip (B = 1): returns (class logits (N, K), masks (N, T, h, w)) after the single IFR layer."""
    layer = dec.ifr_layers[0]
    feat = levels[0] + dec.level_embed.weight[0][None, :, None, None]  # layer 1 reads the stride-32 level
    pos = dec.pe_layer(feat)
    tokens = feat.flatten(2).transpose(1, 2)  # (T, S, d)
    tok_pos = pos.flatten(2).transpose(1, 2)
    g = mask_features  # (T, C, h, w)
    clip, e = dec.query_feat.weight, dec.query_embed.weight
    # initial prediction -> masked attention of layer 1
    m0 = torch.einsum("nc,tchw->nthw", mlp(ln(clip, dec.decoder_norm), dec.mask_embed), g)
    prob = F.interpolate(m0, size=SIZES[0], mode="bilinear", align_corners=False).sigmoid().flatten(2)  # (N, T, S)
    blocked = prob < 0.5
    blocked[blocked.all(-1)] = False
    prev = clip  # Q^0 = a copy of Q_i
    frame_queries = []
    for t in range(T):
        keys, values = tokens[t] + tok_pos[t], tokens[t]
        ca = layer.frame_cross_attn
        m = blocked[:, t][None].expand(dec.num_heads, -1, -1)
        eq2 = torch.cat([ln(prev + attn(prev + e, keys, values, ca.multihead_attn, m), ca.norm),  # Eq. 2
                         ln(clip + attn(clip + e, keys, values, ca.multihead_attn, m), ca.norm)])
        e2 = torch.cat([e, e])
        sa = layer.joint_self_attn
        eq3 = ln(eq2 + attn(eq2 + e2, eq2 + e2, eq2, sa.self_attn), sa.norm)[:N]  # Eq. 3: Chunk, first group
        q_t = ffn(eq3, layer.frame_ffn)
        frame_queries.append(q_t)
        prev = q_t if recurrence else clip
    z = torch.cat(frame_queries)  # (T·N, d)
    tc = layer.temporal_cross_attn
    y = ln(clip + attn(clip + e, z + e.repeat(T, 1), z, tc.multihead_attn), tc.norm)
    cs = layer.clip_self_attn
    y = ln(y + attn(y + e, y + e, y, cs.self_attn), cs.norm)
    clip_next = ffn(y, layer.clip_ffn)
    logits = ln(clip_next, dec.decoder_norm) @ dec.class_embed.weight.T + dec.class_embed.bias
    kernels = [mlp(ln(q, dec.decoder_norm), dec.mask_embed) for q in frame_queries]
    masks = torch.stack([torch.einsum("nc,chw->nhw", k, g[t]) for t, k in enumerate(kernels)], 1)
    return logits, masks


@pytest.mark.parametrize("recurrence", [True, False])
def test_one_ifr_layer_equals_hand_written_eq_2_3(recurrence):
    torch.manual_seed(0)
    cfg = load_config(CONFIG, ["MODEL.IFR.DEC_LAYERS", "2", "MODEL.IFR.RECURRENCE", str(recurrence)])
    dec = IFRTransformerDecoder(cfg, in_channels=DIM, mask_dim=DIM).double().eval()
    with torch.no_grad():  # non-trivial biases and LayerNorms, so that every term matters
        for name, p in dec.named_parameters():
            if name.endswith("bias") or ".norm." in name or "norm.weight" in name:
                p.add_(0.2 * torch.randn_like(p))
    g = torch.Generator().manual_seed(1)
    levels = [torch.randn(T, DIM, *s, generator=g, dtype=torch.float64) for s in SIZES]
    mask_features = torch.randn(T, DIM, *MASK, generator=g, dtype=torch.float64)
    with torch.no_grad():
        out = dec(levels, mask_features, num_frames=T)
        logits, masks = hand_evaluation(dec, levels, mask_features, recurrence)
        blocked_some = (F.interpolate(torch.einsum("nc,tchw->nthw", dec.mask_embed(dec.decoder_norm(
            dec.query_feat.weight)), mask_features), size=SIZES[0], mode="bilinear").sigmoid() < 0.5).any()
    assert blocked_some  # the masked-attention path is exercised
    torch.testing.assert_close(out["pred_logits"][0], logits, rtol=0, atol=1e-10)
    torch.testing.assert_close(out["pred_masks"][0], masks, rtol=0, atol=1e-10)
    other, _ = hand_evaluation(dec, levels, mask_features, not recurrence)
    assert (other - logits).abs().max() > 1e-4  # recurrence on/off are different functions
