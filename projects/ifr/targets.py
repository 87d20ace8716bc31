"""Training targets of video query models from clip dicts of the model-input contract (``docs/architecture.md``)."""
from __future__ import annotations

import torch


def clip_targets(clips: list[dict], padded_size: tuple[int, int], device: torch.device) -> list[dict]:
    """One target set per clip: every object present in at least one frame.

    Args:
        clips: model-input dicts; ``instances`` is a list of T ``Instances`` holding the same K objects
            (``gt_ids`` -1 where absent, ``gt_classes``, ``gt_masks`` BitMasks K×H×W).
        padded_size: (H_pad, W_pad) of the padded batch; masks are zero-padded to it.
        device: where the targets go.

    Returns:
        Per clip ``labels`` (M,) long — the class in the object's first present frame (paper 003) —,
        ``masks`` (M, T, H_pad, W_pad) float (zeros in frames where the object is absent).
    """
    out = []
    for clip in clips:
        instances = clip.get("instances")
        if instances is None or len(instances) != len(clip["image"]):
            raise ValueError(
                f"clip of video {clip.get('video_id')!r}: expected 'instances' with one Instances per frame "
                f"({len(clip['image'])} frames), got {None if instances is None else len(instances)}"
            )
        num_frames = len(instances)
        ids = torch.stack([inst.gt_ids for inst in instances], dim=1)  # (K, T)
        classes = torch.stack([inst.gt_classes for inst in instances], dim=1)
        present = ids >= 0
        keep = present.any(dim=1)
        first = present.to(torch.int64).argmax(dim=1)
        labels = classes.gather(1, first[:, None])[:, 0]
        masks = torch.zeros((len(ids), num_frames, *padded_size), dtype=torch.float32)
        for t, inst in enumerate(instances):
            m = inst.gt_masks.tensor
            masks[:, t, : m.shape[1], : m.shape[2]] = m.to(torch.float32)
        out.append({"labels": labels[keep].to(device), "masks": masks[keep].to(device)})
    return out
