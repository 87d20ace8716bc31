"""``VideoSetCriterion``: set-prediction losses of video query decoders (Mask2Former-VIS + IFR's cross-frame term).

For every supervised prediction (final layer and, with deep supervision, each ``aux_outputs`` entry) the matcher
pairs queries with targets, then (paper 003):

- ``loss_ce``: softmax CE over K+1 classes with no-object weight ``eos_coef`` (class-weighted mean over all B·N
  queries), or sigmoid focal loss on one-hot K-vectors summed over queries and classes and divided by N_m;
- ``loss_mask`` / ``loss_dice``: for each matched pair, each frame mask is compared with the target at
  importance-sampled points; per-frame terms are summed over frames and divided by N_m (number of targets in
  the batch, averaged over processes, at least 1). With ``cross_frame_weight`` λe > 0 and ``pred_cross_masks``
  present, the masks predicted by frame t1's kernel on frame t2 ≠ t1 add λe times the same terms against frame
  t2's target (Eq. 6–7 of paper 003).

Aux losses get the suffix ``_<i>``. The final layer also reports ``loss_mask_xf`` / ``loss_dice_xf`` (the λe
part, detached, already included in ``loss_mask`` / ``loss_dice``; for logging only: they are not in
``weight_dict``). Raw (unweighted) losses are returned; callers multiply by ``weight_dict``.
"""
from __future__ import annotations

import torch
from detectron2.utils import comm
from torch import nn
from torch.nn import functional as F

from .functional import dice_per_mask, sigmoid_ce_per_mask, sigmoid_focal_loss
from .points import point_sample, sample_uncertain_points

CLASS_LOSSES = ("ce", "focal")
MONITOR_KEYS = ("loss_mask_xf", "loss_dice_xf")


class VideoSetCriterion(nn.Module):
    """Hungarian-matched class, mask and dice losses for video instance queries."""

    def __init__(
        self,
        *,
        num_classes: int,
        matcher: nn.Module,
        weight_dict: dict[str, float],
        eos_coef: float = 0.1,
        class_loss: str = "ce",
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        num_points: int = 12544,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
        cross_frame_weight: float = 0.0,
    ) -> None:
        """
        Args:
            num_classes: K real classes.
            matcher: ``matcher(outputs, targets) -> list[(query_idx, target_idx)]``.
            weight_dict: loss name -> weight (including ``_<i>`` aux names); kept for the caller.
            eos_coef: CE weight of the no-object class.
            class_loss: ``ce`` (K+1 logits) or ``focal`` (K logits).
            focal_alpha / focal_gamma: focal-loss parameters.
            num_points / oversample_ratio / importance_sample_ratio: PointRend point sampling per mask.
            cross_frame_weight: λe of the cross-frame mask terms (0 = Mask2Former-VIS losses).
        """
        super().__init__()
        if class_loss not in CLASS_LOSSES:
            raise ValueError(f"VideoSetCriterion: class_loss must be one of {CLASS_LOSSES}, got {class_loss!r}")
        if cross_frame_weight < 0:
            raise ValueError(f"VideoSetCriterion: cross_frame_weight must be >= 0, got {cross_frame_weight}")
        self.num_classes = int(num_classes)
        self.matcher = matcher
        self.weight_dict = dict(weight_dict)
        self.eos_coef = float(eos_coef)
        self.class_loss = class_loss
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)
        self.num_points = int(num_points)
        self.oversample_ratio = float(oversample_ratio)
        self.importance_sample_ratio = float(importance_sample_ratio)
        self.cross_frame_weight = float(cross_frame_weight)
        empty_weight = torch.ones(self.num_classes + 1)
        empty_weight[-1] = self.eos_coef
        self.register_buffer("empty_weight", empty_weight, persistent=False)

    def forward(self, outputs: dict, targets: list[dict]) -> dict[str, torch.Tensor]:
        """
        Args:
            outputs: ``pred_logits`` (B, N, K'), ``pred_masks`` (B, N, T, h, w), optional ``pred_cross_masks``
                (B, N, T, T, h, w) with [b, q, t1, t2] = kernel of frame t1 on frame t2, optional ``aux_outputs``
                (list of dicts with the same keys).
            targets: B dicts with ``labels`` (M_b,) long and ``masks`` (M_b, T, H, W) binary.

        Returns:
            Unweighted losses ``loss_ce, loss_mask, loss_dice`` (+ ``_<i>`` per aux output) and the monitoring
            keys ``loss_mask_xf, loss_dice_xf``.
        """
        num_masks = self.num_masks(targets, outputs["pred_logits"].device)
        losses = self.layer_losses(outputs, targets, num_masks)
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_losses = self.layer_losses(aux, targets, num_masks)
            losses.update({f"{k}_{i}": v for k, v in aux_losses.items() if k not in MONITOR_KEYS})
        return losses

    @staticmethod
    def num_masks(targets: list[dict], device: torch.device) -> float:
        """N_m: targets in the batch, summed over processes and divided by the world size, at least 1."""
        n = torch.as_tensor([float(sum(len(t["labels"]) for t in targets))], device=device)
        world = comm.get_world_size()
        if world > 1:
            torch.distributed.all_reduce(n)
        return max(n.item() / world, 1.0)

    def layer_losses(self, outputs: dict, targets: list[dict], num_masks: float) -> dict[str, torch.Tensor]:
        """The losses of one prediction (its own matching)."""
        indices = self.matcher(outputs, targets)
        losses = {"loss_ce": self.loss_labels(outputs["pred_logits"], targets, indices, num_masks)}
        losses.update(self.loss_masks(outputs, targets, indices, num_masks))
        return losses

    def loss_labels(self, logits: torch.Tensor, targets: list[dict], indices: list, num_masks: float) -> torch.Tensor:
        """CE over K+1 classes (class-weighted mean) or focal over K classes (sum / N_m); logits (B, N, K')."""
        logits = logits.float()
        b_idx, q_idx = _flat_indices(indices, logits.device)
        matched = torch.cat([t["labels"][j] for t, (_, j) in zip(targets, indices)]).to(logits.device)
        if self.class_loss == "ce":
            if logits.shape[-1] != self.num_classes + 1:
                raise ValueError(f"VideoSetCriterion(ce): expected {self.num_classes + 1} logits, got {logits.shape[-1]}")
            target_classes = torch.full(logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device)
            target_classes[b_idx, q_idx] = matched
            return F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight.to(logits.device))
        if logits.shape[-1] != self.num_classes:
            raise ValueError(f"VideoSetCriterion(focal): expected {self.num_classes} logits, got {logits.shape[-1]}")
        onehot = torch.zeros_like(logits)
        onehot[b_idx, q_idx, matched] = 1.0
        loss = sigmoid_focal_loss(logits, onehot, alpha=self.focal_alpha, gamma=self.focal_gamma)
        return loss.sum() / num_masks

    def point_losses(self, logits: torch.Tensor, target_masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-mask BCE and dice at importance-sampled points: logits (R, h, w), targets (R, H, W) -> (R,), (R,)."""
        logits = logits[:, None].float()
        with torch.no_grad():
            coords = sample_uncertain_points(
                logits,
                num_points=self.num_points,
                oversample_ratio=self.oversample_ratio,
                importance_sample_ratio=self.importance_sample_ratio,
            )
            labels = point_sample(target_masks[:, None].float(), coords)[:, 0]
        point_logits = point_sample(logits, coords)[:, 0]
        return sigmoid_ce_per_mask(point_logits, labels), dice_per_mask(point_logits, labels)

    def loss_masks(self, outputs: dict, targets: list[dict], indices: list, num_masks: float) -> dict[str, torch.Tensor]:
        """``loss_mask``, ``loss_dice`` (frame terms + λe · cross-frame terms) and the detached λe parts."""
        pred = outputs["pred_masks"]
        b_idx, q_idx = _flat_indices(indices, pred.device)
        src = pred[b_idx, q_idx]  # (M, T, h, w)
        tgt = torch.cat([t["masks"][j] for t, (_, j) in zip(targets, indices)]).to(pred.device)  # (M, T, H, W)
        zero = pred.sum() * 0.0
        if src.shape[0] == 0:
            return {"loss_mask": zero, "loss_dice": zero, "loss_mask_xf": zero.detach(), "loss_dice_xf": zero.detach()}
        bce, dice = self.point_losses(src.flatten(0, 1), tgt.flatten(0, 1))
        loss_mask, loss_dice = bce.sum() / num_masks, dice.sum() / num_masks
        xf_mask, xf_dice = zero, zero
        cross = outputs.get("pred_cross_masks")
        t = src.shape[1]
        if self.cross_frame_weight > 0 and cross is not None and t > 1:
            off = ~torch.eye(t, dtype=torch.bool, device=pred.device)  # (t1, t2) pairs with t1 != t2
            t2 = torch.arange(t, device=pred.device).expand(t, t)[off]
            xs = cross[b_idx, q_idx][:, off]  # (M, T(T-1), h, w)
            xt = tgt[:, t2]  # (M, T(T-1), H, W)
            xbce, xdice = self.point_losses(xs.flatten(0, 1), xt.flatten(0, 1))
            xf_mask = self.cross_frame_weight * xbce.sum() / num_masks
            xf_dice = self.cross_frame_weight * xdice.sum() / num_masks
        return {
            "loss_mask": loss_mask + xf_mask,
            "loss_dice": loss_dice + xf_dice,
            "loss_mask_xf": xf_mask.detach(),
            "loss_dice_xf": xf_dice.detach(),
        }


def _flat_indices(indices: list, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch index, query index) of every matched pair."""
    b = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)]).to(device)
    q = torch.cat([src for src, _ in indices]).to(device)
    return b, q
