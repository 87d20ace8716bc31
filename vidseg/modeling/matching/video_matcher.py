"""``VideoHungarianMatcher``: one-to-one assignment of video queries to video targets (Mask2Former-VIS, paper 003).

Cost[q, j] = -w_class · p_q(c_j) + w_mask · BCE_pts(m_q, m_j) + w_dice · Dice_pts(m_q, m_j), where the masks of
all T frames are compared at one set of random points shared by every query, target and frame of the clip.
"""
from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from ..losses.criterion import CLASS_LOSSES
from ..losses.functional import pairwise_dice, pairwise_sigmoid_ce
from ..losses.points import point_sample


def class_probabilities(logits: torch.Tensor, class_loss: str) -> torch.Tensor:
    """(N, K') logits -> (N, K) probabilities of the real classes: softmax without the no-object column for ``ce``,
    sigmoid for ``focal``."""
    if class_loss == "ce":
        return logits.float().softmax(-1)[:, :-1]
    return logits.float().sigmoid()


class VideoHungarianMatcher(nn.Module):
    """Hungarian matching of N predicted video instances to M ground-truth video instances per clip."""

    def __init__(
        self,
        *,
        cost_class: float = 2.0,
        cost_mask: float = 5.0,
        cost_dice: float = 5.0,
        num_points: int = 12544,
        class_loss: str = "ce",
    ) -> None:
        """
        Args:
            cost_class / cost_mask / cost_dice: weights of the three cost terms.
            num_points: random points per clip at which masks are compared (all T frames use the same points).
            class_loss: ``ce`` (softmax over K+1 logits, last = no object) or ``focal`` (sigmoid over K logits).
        """
        super().__init__()
        if class_loss not in CLASS_LOSSES:
            raise ValueError(f"VideoHungarianMatcher: class_loss must be one of {CLASS_LOSSES}, got {class_loss!r}")
        if num_points < 1:
            raise ValueError(f"VideoHungarianMatcher: num_points must be >= 1, got {num_points}")
        self.cost_class = float(cost_class)
        self.cost_mask = float(cost_mask)
        self.cost_dice = float(cost_dice)
        self.num_points = int(num_points)
        self.class_loss = class_loss

    def class_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, K') logits -> (N, K) probabilities of the real classes (see :func:`class_probabilities`)."""
        return class_probabilities(logits, self.class_loss)

    @torch.no_grad()
    def cost_matrix(
        self, logits: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor, tgt_masks: torch.Tensor
    ) -> torch.Tensor:
        """The N×M cost of one clip.

        Args:
            logits: (N, K') class logits.
            masks: (N, T, h, w) mask logits.
            labels: (M,) contiguous class ids.
            tgt_masks: (M, T, H, W) binary masks (any resolution: points are normalised).
        """
        cost_class = -self.class_probs(logits)[:, labels]
        coords = torch.rand(1, self.num_points, 2, device=masks.device)
        with torch.autocast(device_type=masks.device.type, enabled=False):
            out = point_sample(masks.float(), coords.expand(masks.shape[0], -1, -1)).flatten(1)  # (N, T·P)
            tgt = point_sample(tgt_masks.float(), coords.expand(tgt_masks.shape[0], -1, -1)).flatten(1)
            cost_mask = pairwise_sigmoid_ce(out, tgt)
            cost_dice = pairwise_dice(out, tgt)
        return self.cost_class * cost_class + self.cost_mask * cost_mask + self.cost_dice * cost_dice

    @torch.no_grad()
    def forward(self, outputs: dict, targets: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """
        Args:
            outputs: ``pred_logits`` (B, N, K'), ``pred_masks`` (B, N, T, h, w).
            targets: B dicts with ``labels`` (M_b,) and ``masks`` (M_b, T, H, W).

        Returns:
            B pairs (query indices, target indices), int64 on CPU, each of length min(N, M_b), sorted by query.
        """
        logits, masks = outputs["pred_logits"], outputs["pred_masks"]
        if len(targets) != logits.shape[0]:
            raise ValueError(f"VideoHungarianMatcher: {logits.shape[0]} clips of predictions but {len(targets)} targets")
        indices = []
        for b, tgt in enumerate(targets):
            labels, tgt_masks = tgt["labels"], tgt["masks"]
            if labels.numel() == 0:
                empty = torch.zeros(0, dtype=torch.int64)
                indices.append((empty, empty.clone()))
                continue
            if tgt_masks.shape[1] != masks.shape[2]:
                raise ValueError(
                    f"VideoHungarianMatcher: clip {b} has {masks.shape[2]} predicted frames but target masks "
                    f"{tuple(tgt_masks.shape)} (expected M×T×H×W)"
                )
            cost = self.cost_matrix(logits[b], masks[b], labels, tgt_masks.to(masks.device))
            if not bool(torch.isfinite(cost).all()):
                bad = [n for n, t in (("pred_logits", logits[b]), ("pred_masks", masks[b]))
                       if not bool(torch.isfinite(t).all())]
                raise FloatingPointError(f"VideoHungarianMatcher: matching cost of clip {b} is NaN/Inf (non-finite "
                                         f"{', '.join(bad) or 'cost terms'}): the model diverged")
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
            indices.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return indices
