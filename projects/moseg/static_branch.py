"""The static ("appearance") detector of paper 001 §3.4, run next to the moving-object heads at inference."""
from __future__ import annotations

import torch
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_proposal_generator, build_roi_heads
from detectron2.structures import ImageList, Instances
from torch import nn

__all__ = ["StaticBranch", "build_static_branch"]


class StaticBranch(nn.Module):
    """Objectness RPN + box head (weights of the appearance-only model) on the appearance features.

    It fires on moving and static objects alike; its detections may only extend tracks (the tracker never
    starts a track from them). Masks come from the joint model's (frozen, appearance) mask head.
    """

    def __init__(self, *, proposal_generator: nn.Module, roi_heads: nn.Module) -> None:
        """
        Args:
            proposal_generator: an RPN on the appearance FPN levels.
            roi_heads: box-only ROI heads (``MASK_ON`` False) on the same levels.
        """
        super().__init__()
        self.proposal_generator = proposal_generator
        self.roi_heads = roi_heads

    def forward(self, images: ImageList, features: dict[str, torch.Tensor]) -> list[Instances]:
        """
        Args:
            images: the N padded input images (only their sizes are used).
            features: appearance features {level: N×C×h×w}.
        Returns:
            N ``Instances`` (pred_boxes, scores, pred_classes) in the padded input frame, no masks.
        """
        if self.training:
            raise RuntimeError("StaticBranch runs at inference only (call model.eval())")
        proposals, _ = self.proposal_generator(images, features, None)
        instances, _ = self.roi_heads(images, features, proposals, None)
        return instances


def build_static_branch(cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> StaticBranch:
    """The branch from ``cfg`` with the ``MODEL.MOSEG.STATIC_BRANCH`` test thresholds, a plain
    ``StandardROIHeads`` box head and ``MODEL.NUM_CLASSES`` classes."""
    s = cfg.MODEL.MOSEG.STATIC_BRANCH
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.MASK_ON = False
    cfg.MODEL.KEYPOINT_ON = False
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = cfg.MODEL.NUM_CLASSES
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = s.SCORE_THRESH_TEST
    cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST = s.NMS_THRESH_TEST
    cfg.TEST.DETECTIONS_PER_IMAGE = s.DETECTIONS_PER_IMAGE
    return StaticBranch(
        proposal_generator=build_proposal_generator(cfg, input_shape), roi_heads=build_roi_heads(cfg, input_shape)
    )
