"""Spec §8 items 3-5, 8, 9: soft aggregation, L2 affinity with top-k, readout, bootstrapped CE, dice."""
import math

import pytest
import torch
from torch.nn import functional as F

from projects.isvos.losses import boot_fraction, bootstrapped_ce, dice_loss
from projects.isvos.memory import l2_similarity, read_memory, soft_aggregate, softmax_affinity


def test_soft_aggregation_properties():
    torch.manual_seed(0)
    p = torch.rand(1, 3, 5, 7)
    _, probs = soft_aggregate(p)
    assert torch.allclose(probs.sum(1), torch.ones(1, 5, 7), atol=1e-5)
    # K = 1: softmax of (logit(1 - p), logit(p)) = (σ(-2 logit p), σ(2 logit p)): ≈ 1 - p, same side of 0.5
    _, one = soft_aggregate(p[:, :1])
    lp = torch.log(p[:, 0] / (1 - p[:, 0]))
    assert torch.allclose(one[:, 0], torch.sigmoid(-2 * lp), atol=1e-5)
    assert torch.equal(one[:, 0] > 0.5, 1 - p[:, 0] > 0.5)
    perm = torch.tensor([2, 0, 1])
    _, permuted = soft_aggregate(p[:, perm])
    assert torch.allclose(permuted[:, 1:], probs[:, 1:][:, perm], atol=1e-6)
    selector = torch.tensor([1.0, 0.0, 1.0])[None, :, None, None]
    _, sel = soft_aggregate(p * selector)
    assert sel[:, 2].max() < 1e-5
    gt = torch.zeros(1, 2, 4, 4)
    gt[0, 0, :2] = 1
    gt[0, 1, 3:] = 1
    expected = torch.zeros(4, 4, dtype=torch.long)
    expected[:2] = 1
    expected[3:] = 2
    assert torch.equal(soft_aggregate(gt)[1].argmax(1)[0], expected)


def test_l2_affinity_matches_naive_softmax_and_topk():
    torch.manual_seed(1)
    mk, qk = torch.randn(2, 8, 30), torch.randn(2, 8, 12)
    naive = -((mk[:, :, :, None] - qk[:, :, None, :]) ** 2).sum(1) / math.sqrt(8)  # (B, M, Q)
    aff = softmax_affinity(l2_similarity(mk, qk))
    assert torch.allclose(aff, naive.softmax(1), atol=1e-5)
    assert torch.allclose(aff.sum(1), torch.ones(2, 12), atol=1e-5)
    top = softmax_affinity(l2_similarity(mk, qk), top_k=5)
    assert ((top > 0).sum(1) == 5).all()
    assert torch.allclose(top.sum(1), torch.ones(2, 12), atol=1e-5)
    kept = naive.topk(5, dim=1).indices
    assert torch.equal((top > 0), torch.zeros_like(top, dtype=torch.bool).scatter_(1, kept, True))
    assert torch.allclose(softmax_affinity(l2_similarity(mk, qk), top_k=30), aff)


def test_readout_identity_and_constant_value():
    ck, h, w = 4, 2, 3
    q = torch.randn(1, ck, h, w)
    value = torch.randn(1, 2, 5, 2, h, w)
    # query j attends mostly to memory position j of frame 0 (its exact copy); distinct keys are far apart
    q_sep = torch.arange(h * w, dtype=torch.float).view(1, 1, h, w).expand(1, ck, h, w) * 10
    mk = torch.cat([q_sep[:, :, None], q_sep[:, :, None] + 1000.0], 2)
    out = read_memory(mk, value, q_sep, top_k=0)
    assert torch.allclose(out, value[:, :, :, 0], atol=1e-4)
    const = torch.full((1, 1, 5, 2, h, w), 3.0)
    assert torch.allclose(read_memory(torch.randn(1, ck, 2, h, w), const, q, top_k=3), torch.full((1, 1, 5, h, w), 3.0))


@pytest.mark.parametrize("t, top_k", [(1, 20), (3, 5), (2, 1), (1, 54)])
def test_topk_readout_gather_equals_dense_affinity(t, top_k):
    """The top-k readout gathers k values per query position; it equals V·A with the dense top-k affinity."""
    torch.manual_seed(t + top_k)
    b, ck, k, cv, h, w = 2, 8, 3, 16, 6, 9
    mk, qk = torch.randn(b, ck, t, h, w), torch.randn(b, ck, h, w)
    value = torch.randn(b, k, cv, t, h, w)
    aff = softmax_affinity(l2_similarity(mk.flatten(2), qk.flatten(2)), top_k)  # (B, M, Q), dense
    dense = torch.einsum("bkcm,bmq->bkcq", value.flatten(3), aff).view(b, k, cv, h, w)
    assert torch.allclose(read_memory(mk, value, qk, top_k=top_k), dense, atol=1e-5)
    qm = l2_similarity(mk.flatten(2), qk.flatten(2), query_major=True)
    assert torch.allclose(qm, l2_similarity(mk.flatten(2), qk.flatten(2)).transpose(1, 2), atol=1e-5)


def test_boot_fraction_schedule():
    assert boot_fraction(0) == 1.0 and boot_fraction(19999) == 1.0
    assert boot_fraction(45000) == pytest.approx(0.575)
    assert boot_fraction(70001) == pytest.approx(0.15) and boot_fraction(10**6) == pytest.approx(0.15)


def test_bootstrapped_ce_values():
    torch.manual_seed(2)
    logits, target = torch.randn(2, 3, 10, 10), torch.randint(0, 3, (2, 10, 10))
    raw = F.cross_entropy(logits, target, reduction="none").flatten(1)
    assert bootstrapped_ce(logits, target, boot_fraction(100)) == pytest.approx(float(raw.mean()), rel=1e-6)
    top = torch.sort(raw, dim=1, descending=True).values[:, :15]  # 15 % of 100 pixels per sample
    assert bootstrapped_ce(logits, target, boot_fraction(80000)) == pytest.approx(float(top.mean()), rel=1e-6)


def test_dice_loss_cases():
    gt = torch.zeros(1, 2, 8, 8)
    gt[0, 0, :4] = 1
    gt[0, 1, 4:] = 1
    assert float(dice_loss(gt, gt)) == pytest.approx(0.0)
    empty = torch.zeros(1, 1, 8, 8)
    assert float(dice_loss(empty, empty)) == pytest.approx(0.0)
    assert float(dice_loss(gt[:, :1], gt[:, 1:])) == pytest.approx(1 - 1 / 65)  # disjoint: ≈ 1
