"""Matching-based test-time augmentation (paper 003 §3.2).

The whole video is run once per augmentation (shorter side in ``MODEL.IFR.TTA.MIN_SIZES``, longer side at most
``INPUT.MAX_SIZE_TEST``, each optionally also flipped horizontally). Every run keeps all N queries: class
probabilities (N, K) and mask logits resampled from its valid input region onto one common grid (a quarter of the
original frame size, flips undone). One run, drawn with ``MODEL.IFR.TTA.PIVOT_SEED``, is the pivot; every other
run's queries are matched one-to-one to the pivot's by the training matcher's Eq. 4 cost, with the pivot's argmax
classes and its binarised masks (probability > 0.5) as the targets. Matched class and mask probabilities are
averaged, then the usual top-k (query, class) pairs are output. Frames arrive at ``INPUT.MIN_SIZE_TEST`` and are
resized here, so set that to the largest TTA size (``configs/ifr/swin_l_tta.yaml`` does).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from detectron2.data.transforms import ResizeShortestEdge
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F

from vidseg.modeling.matching import VideoHungarianMatcher
from vidseg.structures import VideoInstances
from vidseg.structures.masks import MaskPaster

from .inference import video_topk_instances


@dataclass(frozen=True)
class TTASettings:
    min_sizes: tuple[int, ...]
    max_size: int
    flip: bool
    pivot_seed: int

    def __post_init__(self) -> None:
        if not self.min_sizes or min(self.min_sizes) < 1:
            raise ValueError(f"MODEL.IFR.TTA.MIN_SIZES: expected positive sizes, got {self.min_sizes}")

    @property
    def augmentations(self) -> list[tuple[int, bool]]:
        return [(s, f) for s in self.min_sizes for f in ((False, True) if self.flip else (False,))]


def resample_valid_region(masks: torch.Tensor, padded_size: tuple[int, int], valid_size: tuple[int, int],
                          grid: tuple[int, int]) -> torch.Tensor:
    """(N, T, h, w) logits over a padded input of ``padded_size`` -> (N, T, *grid): bilinear samples of the valid
    (unpadded) region only, at the centres of a ``grid`` of equal cells."""
    n, t, h, w = masks.shape
    ys = (torch.arange(grid[0], device=masks.device) + 0.5) * (valid_size[0] / grid[0])  # input pixels
    xs = (torch.arange(grid[1], device=masks.device) + 0.5) * (valid_size[1] / grid[1])
    yy, xx = torch.meshgrid(2 * ys / padded_size[0] - 1, 2 * xs / padded_size[1] - 1, indexing="ij")
    coords = torch.stack([xx, yy], -1)[None].to(masks.dtype)
    out = F.grid_sample(masks.reshape(1, n * t, h, w), coords, mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out.view(n, t, *grid)


def merge_runs(runs, matcher: VideoHungarianMatcher, pivot: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Average R runs over queries matched to the pivot's.

    Args:
        runs: a sequence (or one-pass iterable) of R (logits (N, K'), mask logits (N, T, h, w)) on one grid.
        matcher: the training matcher (its ``class_probs`` and Eq. 4 ``cost_matrix``).
        pivot: index of the pivot run.
        seed: seed of the matcher's random points (the global RNG is left untouched).

    Returns:
        class probabilities (N, K) and mask probabilities (N, T, h, w), indexed like the pivot's queries.
    """
    runs = list(runs)
    logits_p, masks_p = runs[pivot]
    probs = matcher.class_probs(logits_p)
    mask_probs = masks_p.float().sigmoid()
    labels, targets = probs.argmax(-1), (mask_probs > 0.5).float()
    devices = [masks_p.device] if masks_p.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for r, (logits, masks) in enumerate(runs):
            if r == pivot:
                continue
            cost = matcher.cost_matrix(logits, masks, labels, targets)  # (N run queries, N pivot queries)
            rows, cols = (torch.as_tensor(a, device=masks.device) for a in linear_sum_assignment(cost.cpu().numpy()))
            probs[cols] += matcher.class_probs(logits)[rows]
            mask_probs[cols] += masks[rows].float().sigmoid()
    return probs / len(runs), mask_probs / len(runs)


def tta_video_instances(model, frames: list[torch.Tensor], out_size: tuple[int, int], frame_idx: list[int],
                        settings: TTASettings) -> VideoInstances:
    """Whole-video inference of ``model`` (an ``IFR``) under every augmentation, merged by matching."""
    h_in, w_in = frames[0].shape[-2:]
    grid = (-(-out_size[0] // 4), -(-out_size[1] // 4))
    stacked = torch.stack(frames).to(model.device).float()
    runs = []
    for size, flip in settings.augmentations:
        shape = ResizeShortestEdge.get_output_shape(h_in, w_in, size, settings.max_size)
        x = F.interpolate(stacked, size=shape, mode="bilinear", align_corners=False)
        images = model.preprocess(list(x.flip(-1) if flip else x))
        out = model.decode(images.tensor, len(frames), chunk=model.clip_chunk)
        masks = resample_valid_region(out["pred_masks"][0], tuple(images.tensor.shape[-2:]),
                                      tuple(images.image_sizes[0]), grid)
        runs.append((out["pred_logits"][0], masks.flip(-1) if flip else masks))
    pivot = int(np.random.default_rng(settings.pivot_seed).integers(len(runs)))
    probs, mask_probs = merge_runs(runs, model.criterion.matcher, pivot, seed=settings.pivot_seed)
    eps = 1e-6
    # scores are probabilities already: under the sigmoid reading, logit(p) gives p back
    return video_topk_instances(
        torch.logit(probs, eps), torch.logit(mask_probs, eps), class_loss="focal", topk=model.test_topk,
        paster=MaskPaster(padded_size=grid, valid_size=grid, out_size=out_size), frame_idx=frame_idx,
    )
