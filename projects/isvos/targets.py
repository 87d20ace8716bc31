"""ISVOS training targets from ``VOSClipMapper`` clip dicts (vidseg/data/mappers/vos_clip.py)."""
from __future__ import annotations

import torch


def vos_targets(clips: list[dict], size: tuple[int, int], device: torch.device) -> tuple:
    """
    Returns:
        masks (B, T, K, H, W) float GT zero-padded to ``size`` (K = most objects of a clip; extra slots zero),
        selector (B, K) float: 1 for the objects visible in the clip's first frame (the ones VOS tracks),
        is_targets: B·T per-frame set targets ``labels`` (M,), ``masks`` (M, 1, H, W) of the present objects.
    """
    k_max = max(max(len(inst.gt_ids) for inst in c["instances"]) for c in clips)
    t = len(clips[0]["image"])
    masks = torch.zeros((len(clips), t, max(k_max, 1), *size), dtype=torch.float32)
    selector = torch.zeros((len(clips), max(k_max, 1)), dtype=torch.float32)
    is_targets = []
    for b, clip in enumerate(clips):
        for j, inst in enumerate(clip["instances"]):
            m = inst.gt_masks.tensor if hasattr(inst.gt_masks, "tensor") else inst.gt_masks
            k = m.shape[0]
            present = inst.gt_ids >= 0
            masks[b, j, :k, : m.shape[1], : m.shape[2]] = m.float() * present[:, None, None].float()
            is_targets.append({"labels": inst.gt_classes[present].long().to(device),
                               "masks": masks[b, j, :k][present][:, None].to(device)})
        first = clip["instances"][0].gt_ids >= 0
        selector[b, : len(first)] = (first & (masks[b, 0, : len(first)].flatten(1).amax(1) > 0)).float()
    return masks.to(device), selector.to(device), is_targets
