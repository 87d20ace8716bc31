"""``TwoStreamROIHeads``: detectron2's standard box + mask heads where the mask head may read another feature
set than the box head (fused features for boxes, appearance features for masks in the final model)."""
from __future__ import annotations

import torch
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.structures import ImageList, Instances

__all__ = ["TwoStreamROIHeads"]


@ROI_HEADS_REGISTRY.register()
class TwoStreamROIHeads(StandardROIHeads):
    """:class:`StandardROIHeads` whose ``forward`` takes ``mask_features`` (default: the box features).

    Both feature dicts map the level names of ``ROI_HEADS.IN_FEATURES`` to N×C×h×w maps of the same N images.
    """

    def forward(
        self,
        images: ImageList,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
        mask_features: dict[str, torch.Tensor] | None = None,
    ) -> tuple[list[Instances], dict[str, torch.Tensor]]:
        """Training: (sampled proposals, losses ``loss_cls, loss_box_reg, loss_mask``). Inference:
        (per-image ``Instances`` with pred_boxes/scores/pred_classes/pred_masks, {})."""
        del images
        mask_features = features if mask_features is None else mask_features
        if self.training:
            if not targets:
                raise ValueError("TwoStreamROIHeads: training needs 'targets' (one Instances per image)")
            proposals = self.label_and_sample_proposals(proposals, targets)
            losses = self._forward_box(features, proposals)
            losses.update(self._forward_mask(mask_features, proposals))
            return proposals, losses
        pred_instances = self._forward_box(features, proposals)
        return self.forward_with_given_boxes(mask_features, pred_instances), {}
