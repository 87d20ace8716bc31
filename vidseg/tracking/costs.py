"""Assignment costs of the trackers: registered cost terms, their weighted sum, and the Hungarian solve.

A tracker describes its live tracks and the current candidates as two :class:`Side` objects, evaluates the cost
terms it uses (``COST_TERM_REGISTRY``), adds them with weights (:func:`combine`) and solves the assignment with
scipy's ``linear_sum_assignment`` (:func:`assign`). A term returns costs, lower is better; the built-in terms are
negated similarities in [−1, 0] (a constant offset such as ``1 − IoU`` would not change any assignment in exact
arithmetic, but negation is exact in floating point, so thresholds and ties behave exactly as on the similarity):

- ``mask_iou``: −IoU(track's reference mask, candidate mask);
- ``motion``: −IoU(track's motion-prior prediction, candidate mask); 0 where the prior made no prediction;
- ``embedding``: −cos(track embedding, candidate embedding);
- ``soft_mask_iou``: −soft IoU of mask probabilities over the frames both sides cover (clip trackers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F

from vidseg.registry import COST_TERM_REGISTRY, register_as
from vidseg.structures.masks import RLE, iou_matrix

__all__ = ["Side", "evaluate_terms", "combine", "assign"]

INADMISSIBLE = 1e6  # cost given to pairs that may not be linked (never chosen over an admissible pair)


@dataclass
class Side:
    """Tracks or candidates of one assignment; fields a term does not read may stay ``None``.

    Attributes:
        size: number of rows (tracks) or columns (candidates).
        masks: one RLE each (any form :mod:`vidseg.structures.masks` accepts).
        embeds: (size, d) appearance / query embeddings.
        soft_masks: (size, F, h, w) mask probabilities on F shared frames.
        predicted: tracks only — the motion prior's mask at the candidates' frame, ``None`` where it has none.
    """

    size: int
    masks: Sequence[RLE] | None = None
    embeds: np.ndarray | torch.Tensor | None = None
    soft_masks: torch.Tensor | None = None
    predicted: Sequence[RLE | None] | None = None

    def need(self, name: str, term: str):
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"cost term {term!r} needs Side.{name}, which the tracker did not provide")
        return value


@register_as(COST_TERM_REGISTRY, "mask_iou")
def mask_iou_cost(tracks: Side, cands: Side) -> np.ndarray:
    return -iou_matrix(tracks.need("masks", "mask_iou"), cands.need("masks", "mask_iou"))


@register_as(COST_TERM_REGISTRY, "motion")
def motion_cost(tracks: Side, cands: Side) -> np.ndarray:
    predicted = tracks.need("predicted", "motion")
    cost = np.zeros((tracks.size, cands.size))
    rows = [i for i, p in enumerate(predicted) if p is not None]
    if rows and cands.size:
        cost[rows] = -iou_matrix([predicted[i] for i in rows], cands.need("masks", "motion"))
    return cost


@register_as(COST_TERM_REGISTRY, "embedding")
def embedding_cost(tracks: Side, cands: Side) -> np.ndarray:
    a = torch.as_tensor(tracks.need("embeds", "embedding")).float()
    b = torch.as_tensor(cands.need("embeds", "embedding")).float()
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    return -(F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T).double().cpu().numpy()


@register_as(COST_TERM_REGISTRY, "soft_mask_iou")
def soft_mask_iou_cost(tracks: Side, cands: Side) -> np.ndarray:
    p = tracks.need("soft_masks", "soft_mask_iou").flatten(1).float()
    q = cands.need("soft_masks", "soft_mask_iou").flatten(1).float()
    inter = p @ q.T
    union = p.sum(1)[:, None] + q.sum(1)[None, :] - inter
    return -(inter / union.clamp(min=1e-6)).double().cpu().numpy()


def evaluate_terms(names: Sequence[str], tracks: Side, cands: Side) -> dict[str, np.ndarray]:
    """{term name: (len(tracks), len(cands)) cost} for the registered terms ``names``."""
    out = {}
    for name in names:
        if name not in COST_TERM_REGISTRY:
            known = sorted(k for k, _ in COST_TERM_REGISTRY)
            raise ValueError(f"unknown tracker cost term {name!r}; expected one of {known}")
        out[name] = np.asarray(COST_TERM_REGISTRY.get(name)(tracks, cands), dtype=np.float64)
    return out


def combine(terms: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Σ weights[name] · terms[name] over the weighted terms (weight 0 terms are skipped)."""
    shapes = {v.shape for v in terms.values()}
    if len(shapes) != 1:
        raise ValueError(f"cost terms have different shapes {sorted(shapes)}")
    total = np.zeros(shapes.pop())
    for name, w in weights.items():
        if w:
            total += float(w) * terms[name]
    return total


def assign(
    cost: np.ndarray, admissible: np.ndarray | None = None, *, inadmissible_cost: float = INADMISSIBLE
) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one assignment; inadmissible pairs are never returned.

    Args:
        cost: (R, C) cost matrix.
        admissible: (R, C) bool; ``False`` pairs get ``inadmissible_cost`` before solving and are dropped after.
        inadmissible_cost: the default is prohibitive (the most admissible links win); a tracker that ranks
            inadmissible pairs like the worst admissible ones passes that value instead.
    Returns:
        (row, column) pairs in row order.
    """
    if cost.size == 0:
        return []
    cost = np.array(cost, dtype=np.float64)
    if admissible is not None:
        cost[~admissible] = inadmissible_cost
    rows, cols = linear_sum_assignment(cost)
    keep = np.ones(len(rows), bool) if admissible is None else admissible[rows, cols]
    return [(int(r), int(c)) for r, c, k in zip(rows, cols, keep) if k]
