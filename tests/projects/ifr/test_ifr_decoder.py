"""IFR and Mask2Former-VIS query decoders on random features (paper 003 §3.2, Eq. 2–7; masked attention switch,
focal prior-probability init). Eq. 2–3 by hand: ``test_ifr_equations.py``."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from projects.ifr import IFRTransformerDecoder, VideoMaskedTransformerDecoder
from projects.ifr.decoder_base import VideoQueryDecoderBase
from vidseg.config import load_config

CONFIG = str(Path(__file__).resolve().parents[3] / "configs" / "tests" / "ifr.yaml")
DIM, N, K = 32, 8, 3
SIZES = ((2, 2), (4, 4), (8, 8))  # stride 32, 16, 8 of a 64x64 frame
MASK = (16, 16)


def _cfg(*opts):
    return load_config(CONFIG, list(opts))


def _decoder(cls=IFRTransformerDecoder, *opts, seed=0, dtype=torch.float64) -> VideoQueryDecoderBase:
    torch.manual_seed(seed)
    return cls(_cfg(*opts), in_channels=DIM, mask_dim=DIM).to(dtype).eval()


def _features(b: int, t: int, seed: int = 1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    levels = [torch.randn(b * t, DIM, *s, generator=g, dtype=dtype) for s in SIZES]
    return levels, torch.randn(b * t, DIM, *MASK, generator=g, dtype=dtype)


def _reorder(levels, mask_features, b, t, order):
    """Reorder the frames of every clip: frame i of the result is frame order[i] of the input."""
    def f(x):
        return x.view(b, t, *x.shape[1:])[:, order].flatten(0, 1)

    return [f(x) for x in levels], f(mask_features)


def test_train_forward_shapes_and_cross_diagonal():
    """§9 item 1: B=2, T=2 training outputs."""
    dec = _decoder(dtype=torch.float32).train()
    levels, mf = _features(2, 2, dtype=torch.float32)
    out = dec(levels, mf, num_frames=2, cross_frame=True)
    assert out["pred_logits"].shape == (2, N, K)  # focal: K logits
    assert out["pred_masks"].shape == (2, N, 2, *MASK)
    assert out["pred_cross_masks"].shape == (2, N, 2, 2, *MASK)
    idx = torch.arange(2)
    torch.testing.assert_close(out["pred_cross_masks"][:, :, idx, idx], out["pred_masks"])
    assert len(out["aux_outputs"]) == _cfg().MODEL.IFR.DEC_LAYERS - 1
    assert "pred_cross_masks" not in out["aux_outputs"][0]  # layer 0: one kernel for all frames
    assert all("pred_cross_masks" in a for a in out["aux_outputs"][1:])
    ce = _decoder(IFRTransformerDecoder, "MODEL.IFR.CLASS_LOSS", "ce", dtype=torch.float32)
    assert ce(levels, mf, num_frames=2)["pred_logits"].shape == (2, N, K + 1)


@pytest.mark.parametrize("cls", [IFRTransformerDecoder, VideoMaskedTransformerDecoder])
@pytest.mark.parametrize("t", [1, 3, 7])
def test_eval_forward_any_length(cls, t):
    """§9 item 2: length generalisation; finite outputs, no aux in eval."""
    dec = _decoder(cls, dtype=torch.float32)
    out = dec(*_features(1, t, dtype=torch.float32), num_frames=t)
    assert out["pred_masks"].shape == (1, N, t, *MASK) and "aux_outputs" not in out
    assert torch.isfinite(out["pred_masks"]).all() and torch.isfinite(out["pred_logits"]).all()
    assert out["pred_embeds"].shape == (1, N, DIM)


@pytest.mark.parametrize("recurrence", [True, False])
def test_recurrence_restarts_from_clip_queries_and_chains_frame_to_frame(recurrence):
    """§9 item 3: in every layer the frame group entering step 1 is C_i, and the one entering step t + 1 is step
    t's output S^t (the frame FFN's output); without recurrence every step starts from C_i."""
    dec = _decoder(IFRTransformerDecoder, "MODEL.IFR.RECURRENCE", str(recurrence))
    seen: list[torch.Tensor] = []  # frame cross-attention inputs, in call order
    frame_out: list[torch.Tensor] = []  # S^t, in call order
    clip_out: list[torch.Tensor] = []
    for layer in dec.ifr_layers:
        layer.frame_cross_attn.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
        layer.frame_ffn.register_forward_hook(lambda m, args, out: frame_out.append(out.clone()))
        layer.register_forward_hook(lambda m, args, out: clip_out.append(out[0].clone()))
    t = 3
    dec(*_features(2, t), num_frames=t)
    assert len(seen) == len(frame_out) == dec.num_layers * t
    for i in range(dec.num_layers):
        c_i = dec.query_feat.weight[:, None].expand(-1, 2, -1) if i == 0 else clip_out[i - 1]
        for step in range(t):
            x = seen[i * t + step]
            torch.testing.assert_close(x[N:], c_i)  # the clip group is C_i at every step
            expected = c_i if step == 0 or not recurrence else frame_out[i * t + step - 1]
            torch.testing.assert_close(x[:N], expected)
        assert not torch.allclose(frame_out[i * t], c_i)  # S^1 has moved away from C_i


@pytest.mark.parametrize("attend_all", [True, False])
@pytest.mark.parametrize("cls", [IFRTransformerDecoder, VideoMaskedTransformerDecoder])
def test_query_permutation_equivariance(cls, attend_all):
    """§9 item 4: permuting query_feat/query_embed rows permutes logits and masks (masked attention on)."""
    dec = _decoder(cls, "MODEL.IFR.CLIP_ATTEND_ALL", str(attend_all))
    assert dec.masked_attention
    levels, mf = _features(2, 3)
    ref = dec(levels, mf, num_frames=3)
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        dec.query_feat.weight.copy_(dec.query_feat.weight[perm])
        dec.query_embed.weight.copy_(dec.query_embed.weight[perm])
    out = dec(levels, mf, num_frames=3)
    torch.testing.assert_close(out["pred_logits"], ref["pred_logits"][:, perm], atol=1e-5, rtol=0)
    torch.testing.assert_close(out["pred_masks"], ref["pred_masks"][:, perm], atol=1e-5, rtol=0)


def test_clip_attend_own_index_mask():
    dec = _decoder(IFRTransformerDecoder, "MODEL.IFR.CLIP_ATTEND_ALL", "False")
    m = dec.temporal_mask(2, torch.device("cpu"))
    assert m.shape == (N, 2 * N)
    for q in range(N):
        assert sorted(torch.nonzero(~m[q]).flatten().tolist()) == [q, q + N]
    assert _decoder().temporal_mask(2, torch.device("cpu")) is None


def test_frame_order_matters_for_ifr_but_not_for_the_order_agnostic_baseline():
    """§9 item 6: reversed frames change IFR; the baseline without temporal PE is frame-permutation equivariant."""
    b, t = 2, 4
    levels, mf = _features(b, t)
    rev = list(range(t))[::-1]
    ifr = _decoder()
    a = ifr(levels, mf, num_frames=t)
    r = ifr(*_reorder(levels, mf, b, t, rev), num_frames=t)
    assert (a["pred_masks"] - r["pred_masks"][:, :, rev]).abs().max() > 1e-3
    assert (a["pred_logits"] - r["pred_logits"]).abs().max() > 1e-3
    base = _decoder(VideoMaskedTransformerDecoder, "MODEL.IFR.BASELINE_TEMPORAL_PE", "False")
    a = base(levels, mf, num_frames=t)
    r = base(*_reorder(levels, mf, b, t, rev), num_frames=t)
    torch.testing.assert_close(r["pred_masks"][:, :, rev], a["pred_masks"], atol=1e-8, rtol=0)
    torch.testing.assert_close(r["pred_logits"], a["pred_logits"], atol=1e-8, rtol=0)
    with_pe = _decoder(VideoMaskedTransformerDecoder)  # the 3D sine PE makes the baseline order-aware
    a, r = with_pe(levels, mf, num_frames=t), with_pe(*_reorder(levels, mf, b, t, rev), num_frames=t)
    assert (a["pred_logits"] - r["pred_logits"]).abs().max() > 1e-6


@pytest.mark.parametrize("cls", [IFRTransformerDecoder, VideoMaskedTransformerDecoder])
def test_batch_independence(cls):
    """§9 item 7: clip b gives the same outputs alone or in a batch of 2."""
    dec = _decoder(cls)
    t = 3
    levels, mf = _features(2, t)
    both = dec(levels, mf, num_frames=t)
    for b in range(2):
        alone = dec([x[b * t : (b + 1) * t] for x in levels], mf[b * t : (b + 1) * t], num_frames=t)
        for key in ("pred_logits", "pred_masks", "pred_embeds"):
            torch.testing.assert_close(alone[key][0], both[key][b], atol=1e-10, rtol=0)


def test_attention_masks_block_low_probability_and_unblock_empty_rows():
    dec = _decoder(dtype=torch.float32)
    masks = torch.full((1, 2, 1, 4, 4), -5.0)
    masks[0, 0, 0, :2, :2] = 5.0  # query 0 sees the top-left quarter; query 1 sees nothing
    blocked = dec.blocked_regions(masks, (2, 2))
    assert blocked.shape == (1, 2, 1, 4)
    assert blocked[0, 0, 0].tolist() == [False, True, True, True] and blocked[0, 1, 0].all()
    attn = dec.attention_mask(blocked[:, :, 0])
    assert attn.shape == (dec.num_heads, 2, 4)
    assert attn[:, 0].tolist() == [[False, True, True, True]] * dec.num_heads
    assert not attn[:, 1].any()  # fully blocked row -> fully open


@pytest.mark.parametrize("cls", [IFRTransformerDecoder, VideoMaskedTransformerDecoder])
def test_masked_attention_switch(cls):
    """Queries see the mask features only through the attention masks: with ATTN_MASK_SOURCE none, the class
    logits do not depend on the mask features at all; with prev_layer they do."""
    levels, mf = _features(1, 2)
    other_mf = _features(1, 2, seed=7)[1]
    off = _decoder(cls, "MODEL.IFR.ATTN_MASK_SOURCE", "none")
    assert not off.masked_attention
    torch.testing.assert_close(off(levels, mf, num_frames=2)["pred_logits"],
                               off(levels, other_mf, num_frames=2)["pred_logits"], rtol=0, atol=1e-12)
    on = _decoder(cls)
    assert on.masked_attention
    diff = on(levels, mf, num_frames=2)["pred_logits"] - on(levels, other_mf, num_frames=2)["pred_logits"]
    assert diff.abs().max() > 1e-4


def test_bad_inputs():
    dec = _decoder(IFRTransformerDecoder)
    with pytest.raises(ValueError, match="num_frames"):
        dec(*_features(1, 3), num_frames=2)
    with pytest.raises(ValueError, match="ATTN_MASK_SOURCE"):
        _decoder(IFRTransformerDecoder, "MODEL.IFR.ATTN_MASK_SOURCE", "recurrent")


def test_focal_prior_probability_bias_init():
    """FOCAL_PRIOR_PROB p: every focal class logit starts at log(p / (1 - p)); CE and p = 0 keep the Linear init."""
    dec = _decoder(IFRTransformerDecoder, "MODEL.IFR.FOCAL_PRIOR_PROB", "0.01")
    torch.testing.assert_close(dec.class_embed.bias, torch.full((K,), math.log(0.01 / 0.99), dtype=torch.float64))
    scores = dec(*_features(1, 2), num_frames=2)["pred_logits"].sigmoid()
    assert 0.001 < scores.mean() < 0.05  # near the prior, far below the 0.5 of a zero bias
    assert dec.class_embed.bias.abs().max() > 4
    ce = _decoder(IFRTransformerDecoder, "MODEL.IFR.FOCAL_PRIOR_PROB", "0.01", "MODEL.IFR.CLASS_LOSS", "ce")
    plain = _decoder(IFRTransformerDecoder, "MODEL.IFR.FOCAL_PRIOR_PROB", "0.0")
    assert ce.class_embed.bias.abs().max() < 1 and plain.class_embed.bias.abs().max() < 1
    with pytest.raises(ValueError, match="FOCAL_PRIOR_PROB"):
        _decoder(IFRTransformerDecoder, "MODEL.IFR.FOCAL_PRIOR_PROB", "1.0")


@pytest.mark.parametrize("cls", [IFRTransformerDecoder, VideoMaskedTransformerDecoder])
def test_inference_masks_at_level_size_equal_resized_full_masks(cls):
    """In eval the intermediate predictions are computed only at the attention resolution (``MaskReadout``, by the
    linearity of bilinear resizing); the returned prediction must equal the training path's last prediction (every
    layer at full size, then resized), here with level and mask sizes that are not multiples of each other."""
    dec = _decoder(cls, "MODEL.IFR.DROPOUT", "0.0")
    g = torch.Generator().manual_seed(3)
    levels = [torch.randn(2 * 3, DIM, *s, generator=g, dtype=torch.float64) for s in ((2, 3), (5, 7), (9, 13))]
    mf = torch.randn(2 * 3, DIM, 35, 51, generator=g, dtype=torch.float64)
    fast = dec.eval()(levels, mf, num_frames=3)
    full = dec.train()(levels, mf, num_frames=3)
    assert "aux_outputs" not in fast and len(full["aux_outputs"]) == dec.num_layers
    for key in ("pred_logits", "pred_masks", "pred_embeds"):
        torch.testing.assert_close(fast[key], full[key], rtol=1e-10, atol=1e-10)
    # the attention masks really block something (otherwise the comparison would not exercise them)
    blocked = dec.blocked_regions(full["aux_outputs"][-1]["pred_masks"], (9, 13))
    assert 0.05 < blocked.double().mean() < 0.95
