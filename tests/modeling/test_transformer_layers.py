"""Shared decoder layers against hand-written attention / FFN formulas (float64)."""
import math

import pytest
import torch
from torch.nn import functional as F

from vidseg.modeling.transformer import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer

D, HEADS = 8, 2


def manual_mha(mha: torch.nn.MultiheadAttention, q_in, k_in, v_in, blocked=None):
    """Multi-head attention written out: (L, B, C) x (S, B, C) -> (L, B, C); ``blocked`` (L, S) bool."""
    w, b = mha.in_proj_weight, mha.in_proj_bias
    q = q_in @ w[:D].T + b[:D]
    k = k_in @ w[D:2 * D].T + b[D:2 * D]
    v = v_in @ w[2 * D:].T + b[2 * D:]
    dh = D // HEADS
    outs = []
    for h in range(HEADS):
        sl = slice(h * dh, (h + 1) * dh)
        logits = torch.einsum("lbc,sbc->bls", q[..., sl], k[..., sl]) / math.sqrt(dh)
        if blocked is not None:
            logits = logits.masked_fill(blocked[None], float("-inf"))
        outs.append(torch.einsum("bls,sbc->lbc", logits.softmax(-1), v[..., sl]))
    return torch.cat(outs, -1) @ mha.out_proj.weight.T + mha.out_proj.bias


def layer_norm(x, ln):
    return F.layer_norm(x, (D,), ln.weight, ln.bias, ln.eps)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_self_attention_post_norm_matches_formula():
    layer = SelfAttentionLayer(D, HEADS).double().eval()
    torch.nn.init.normal_(layer.norm.weight)
    torch.nn.init.normal_(layer.norm.bias)
    x, pos = torch.randn(5, 3, D, dtype=torch.float64), torch.randn(5, 3, D, dtype=torch.float64)
    expected = layer_norm(x + manual_mha(layer.self_attn, x + pos, x + pos, x), layer.norm)
    torch.testing.assert_close(layer(x, query_pos=pos), expected)


def test_self_attention_pre_norm_matches_formula():
    layer = SelfAttentionLayer(D, HEADS, normalize_before=True).double().eval()
    x, pos = torch.randn(4, 2, D, dtype=torch.float64), torch.randn(4, 2, D, dtype=torch.float64)
    n = layer_norm(x, layer.norm)
    expected = x + manual_mha(layer.self_attn, n + pos, n + pos, n)
    torch.testing.assert_close(layer(x, query_pos=pos), expected)


def test_cross_attention_positions_go_to_queries_and_keys_only():
    layer = CrossAttentionLayer(D, HEADS).double().eval()
    tgt, qpos = torch.randn(3, 2, D, dtype=torch.float64), torch.randn(3, 2, D, dtype=torch.float64)
    mem, pos = torch.randn(7, 2, D, dtype=torch.float64), torch.randn(7, 2, D, dtype=torch.float64)
    expected = layer_norm(tgt + manual_mha(layer.multihead_attn, tgt + qpos, mem + pos, mem), layer.norm)
    torch.testing.assert_close(layer(tgt, mem, pos=pos, query_pos=qpos), expected)


def test_cross_attention_bool_mask_blocks_memory_tokens():
    layer = CrossAttentionLayer(D, HEADS).double().eval()
    tgt, mem = torch.randn(3, 1, D, dtype=torch.float64), torch.randn(6, 1, D, dtype=torch.float64)
    blocked = torch.zeros(3, 6, dtype=torch.bool)
    blocked[0, 4:] = True  # query 0 may not see tokens 4, 5
    mask = blocked.repeat(HEADS, 1, 1)  # (B*heads, L, S)
    out = layer(tgt, mem, attn_mask=mask)
    expected = layer_norm(tgt + manual_mha(layer.multihead_attn, tgt, mem, mem, blocked), layer.norm)
    torch.testing.assert_close(out, expected)
    mem2 = mem.clone()
    mem2[4:] += 5.0
    out2 = layer(tgt, mem2, attn_mask=mask)
    torch.testing.assert_close(out2[0], out[0])  # query 0 is blind to the changed tokens
    assert not torch.allclose(out2[1], out[1])  # the others are not


def test_key_padding_mask_equals_dropping_the_tokens():
    layer = CrossAttentionLayer(D, HEADS).double().eval()
    tgt, mem = torch.randn(3, 2, D, dtype=torch.float64), torch.randn(6, 2, D, dtype=torch.float64)
    pad = torch.zeros(2, 6, dtype=torch.bool)
    pad[:, 4:] = True
    torch.testing.assert_close(layer(tgt, mem, key_padding_mask=pad), layer(tgt, mem[:4]))


def test_ffn_matches_formula_and_pre_norm():
    post = FFNLayer(D, 16).double()
    x = torch.randn(4, 2, D, dtype=torch.float64)
    hidden = F.relu(x @ post.linear1.weight.T + post.linear1.bias)
    torch.testing.assert_close(post(x), layer_norm(x + hidden @ post.linear2.weight.T + post.linear2.bias, post.norm))
    pre = FFNLayer(D, 16, 0.0, True).double()
    n = layer_norm(x, pre.norm)
    hidden = F.relu(n @ pre.linear1.weight.T + pre.linear1.bias)
    torch.testing.assert_close(pre(x), x + hidden @ pre.linear2.weight.T + pre.linear2.bias)


def test_mlp_relu_between_layers_only():
    mlp = MLP(4, 6, 3, 3).double()
    assert [tuple(layer.weight.shape) for layer in mlp.layers] == [(6, 4), (6, 6), (3, 6)]
    x = torch.randn(5, 4, dtype=torch.float64)
    h = F.relu(mlp.layers[0](x))
    h = F.relu(mlp.layers[1](h))
    torch.testing.assert_close(mlp(x), mlp.layers[2](h))
    with torch.no_grad():
        mlp.layers[2].bias.fill_(-100.0)
    assert (mlp(x) < 0).all()  # no ReLU after the last layer
    single = MLP(4, 99, 2, 1)
    assert len(single.layers) == 1 and single.layers[0].weight.shape == (2, 4)
    with pytest.raises(ValueError, match="num_layers"):
        MLP(4, 4, 4, 0)


def test_layers_are_batch_independent_and_sequence_first():
    layers = [SelfAttentionLayer(D, HEADS), CrossAttentionLayer(D, HEADS), FFNLayer(D, 16)]
    tgt, mem = torch.randn(5, 2, D), torch.randn(9, 2, D)
    for layer in layers:
        layer.eval()
        run = (lambda t, m, layer=layer: layer(t, m)) if isinstance(layer, CrossAttentionLayer) else (
            lambda t, m, layer=layer: layer(t))
        both = run(tgt, mem)
        assert both.shape == (5, 2, D)
        torch.testing.assert_close(both[:, 1:], run(tgt[:, 1:], mem[:, 1:]), atol=1e-6, rtol=1e-5)


def test_mask2former_parameter_names():
    names = {n for n, _ in SelfAttentionLayer(D, HEADS).named_parameters()}
    assert names == {"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                     "self_attn.out_proj.bias", "norm.weight", "norm.bias"}
    names = {n for n, _ in CrossAttentionLayer(D, HEADS).named_parameters()}
    assert {n.split(".")[0] for n in names} == {"multihead_attn", "norm"}
    names = {n for n, _ in FFNLayer(D, 16).named_parameters()}
    assert names == {"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "norm.weight", "norm.bias"}
