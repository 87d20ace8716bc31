"""VideoHungarianMatcher and the point-sampled costs (paper 003)."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn import functional as F

from vidseg.modeling.losses import dice_per_mask, pairwise_dice, pairwise_sigmoid_ce, point_sample, sigmoid_ce_per_mask
from vidseg.modeling.matching import VideoHungarianMatcher


def _targets(num: int, *, t: int = 2, size: int = 16, num_classes: int = 4, seed: int = 0) -> dict:
    """``num`` random rectangles per frame (distinct objects) with random classes."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(num, t, size, size)
    for j, f in itertools.product(range(num), range(t)):
        y0, x0 = torch.randint(0, size - 6, (2,), generator=g).tolist()
        h, w = torch.randint(3, 7, (2,), generator=g).tolist()
        masks[j, f, y0 : y0 + h, x0 : x0 + w] = 1.0
    return {"labels": torch.randint(0, num_classes, (num,), generator=g), "masks": masks}


def _copies(
    targets: dict, perm: torch.Tensor, *, n: int, num_classes: int, class_loss: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions that are logit-scaled copies of the targets: query perm[j] predicts target j."""
    t, size = targets["masks"].shape[1:3]
    k = num_classes + (1 if class_loss == "ce" else 0)
    logits = torch.full((n, k), -8.0)
    masks = torch.full((n, t, size, size), -10.0)
    if class_loss == "ce":
        logits[:, -1] = 8.0  # unmatched queries: no object
    for j, q in enumerate(perm.tolist()):
        logits[q] = -8.0
        logits[q, targets["labels"][j]] = 8.0
        masks[q] = 20.0 * (2.0 * targets["masks"][j] - 1.0)
    return logits, masks


@pytest.mark.parametrize("class_loss", ["ce", "focal"])
@pytest.mark.parametrize("num_targets", [0, 3, 8])
def test_matcher_recovers_query_permutation(class_loss, num_targets):
    torch.manual_seed(0)
    n, k = 8, 4
    logits, masks, targets, perms = [], [], [], []
    for b in range(2):
        tgt = _targets(num_targets, num_classes=k, seed=b)
        perm = torch.randperm(n)[:num_targets]
        lg, mk = _copies(tgt, perm, n=n, num_classes=k, class_loss=class_loss)
        logits.append(lg)
        masks.append(mk)
        targets.append(tgt)
        perms.append(perm)
    matcher = VideoHungarianMatcher(num_points=300, class_loss=class_loss)
    indices = matcher({"pred_logits": torch.stack(logits), "pred_masks": torch.stack(masks)}, targets)
    for (q, j), perm in zip(indices, perms):
        assert len(q) == len(j) == min(n, num_targets)
        assert len(set(q.tolist())) == len(q) and len(set(j.tolist())) == len(j)
        assert torch.equal(perm[j], q), "query perm[j] must be matched to target j"


def test_more_targets_than_queries_matches_every_query():
    torch.manual_seed(1)
    tgt = _targets(6, num_classes=3)
    logits = torch.randn(1, 4, 4)
    masks = torch.randn(1, 4, 2, 16, 16)
    (q, j), = VideoHungarianMatcher(num_points=100)({"pred_logits": logits, "pred_masks": masks}, [tgt])
    assert sorted(q.tolist()) == [0, 1, 2, 3] and len(set(j.tolist())) == 4


def test_class_cost_uses_softmax_for_ce_and_sigmoid_for_focal():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]])
    masks = torch.zeros(2, 1, 4, 4)
    labels = torch.tensor([1])
    tgt = torch.zeros(1, 1, 4, 4)
    ce = VideoHungarianMatcher(cost_class=1.0, cost_mask=0.0, cost_dice=0.0, num_points=10, class_loss="ce")
    focal = VideoHungarianMatcher(cost_class=1.0, cost_mask=0.0, cost_dice=0.0, num_points=10, class_loss="focal")
    expected_ce = -logits.softmax(-1)[:, 1:2]
    expected_focal = -logits[:, 1:2].sigmoid()
    torch.testing.assert_close(ce.cost_matrix(logits, masks, labels, tgt), expected_ce)
    torch.testing.assert_close(focal.cost_matrix(logits, masks, labels, tgt), expected_focal)


def test_pairwise_costs_equal_per_pair_losses():
    torch.manual_seed(2)
    logits = torch.randn(5, 40) * 3
    targets = (torch.rand(3, 40) > 0.5).float()
    ce = pairwise_sigmoid_ce(logits, targets)
    dice = pairwise_dice(logits, targets)
    for r, m in itertools.product(range(5), range(3)):
        torch.testing.assert_close(ce[r, m], sigmoid_ce_per_mask(logits[r : r + 1], targets[m : m + 1])[0])
        torch.testing.assert_close(dice[r, m], dice_per_mask(logits[r : r + 1], targets[m : m + 1])[0])
    # dice by hand for one pair
    p = logits[0].sigmoid()
    hand = 1 - (2 * (p * targets[1]).sum() + 1) / (p.sum() + targets[1].sum() + 1)
    torch.testing.assert_close(dice[0, 1], hand)
    torch.testing.assert_close(ce[0, 1], F.binary_cross_entropy_with_logits(logits[0], targets[1]))


def test_point_sample_is_bilinear_in_normalised_coordinates():
    h, w = 6, 10
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    image = (3.0 * xs + 2.0 * ys)[None, None]  # linear in pixel index: bilinear sampling is exact inside
    coords = torch.tensor([[[0.5, 0.5], [0.25, 0.75], [0.55, 0.15]]], dtype=torch.float64)
    px, py = coords[0, :, 0] * w - 0.5, coords[0, :, 1] * h - 0.5  # align_corners=False: pixel centres at (i+.5)/W
    torch.testing.assert_close(point_sample(image, coords)[0, 0], 3.0 * px + 2.0 * py)


def test_matcher_rejects_frame_mismatch():
    tgt = _targets(2, t=3)
    with pytest.raises(ValueError, match="frames"):
        outputs = {"pred_logits": torch.zeros(1, 4, 41), "pred_masks": torch.zeros(1, 4, 2, 8, 8)}
        VideoHungarianMatcher(num_points=10)(outputs, [tgt])
    with pytest.raises(ValueError, match="class_loss"):
        VideoHungarianMatcher(class_loss="sigmoid")
