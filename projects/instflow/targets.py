"""Training targets of one (target, reference) frame pair (paper 002) and the pair mapper.

Conventions (spec §1): pixel coordinates ``p = (y, x)``; an offset points from a pixel to its instance's center
(``O(p) = c − p``); centers are barycenters of the visible mask; all in input-resolution pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from detectron2.config import CfgNode

from vidseg.data.mappers.video_clip import VideoClipMapper
from vidseg.registry import MAPPER_REGISTRY

IGNORE = 255
TARGET_KEYS = ("sem", "sem_w", "center", "center_w", "off_t", "off_w", "off_r", "off_r_w")


@dataclass(frozen=True)
class TargetSettings:
    sigma: float = 8.0
    small_area: int = 1024
    small_weight: float = 3.0
    small_weight_sem: bool = False
    center_on_background: bool = False
    offset_on_background: bool = False

    @classmethod
    def from_config(cls, cfg: CfgNode) -> "TargetSettings":
        f = cfg.MODEL.INSTFLOW
        return cls(float(f.GAUSSIAN_SIGMA), int(f.SMALL_INSTANCE_AREA), float(f.SMALL_INSTANCE_WEIGHT),
                   bool(f.SMALL_INSTANCE_WEIGHT_SEM), bool(f.CENTER_LOSS_ON_BACKGROUND),
                   bool(f.OFFSET_LOSS_ON_BACKGROUND))


def paint_ids(masks: torch.Tensor) -> torch.Tensor:
    """K×H×W bool masks -> H×W id map (-1 = background); instances painted by descending area, so the smaller
    instance wins a contested pixel (spec §3.2 step 1, A23)."""
    ids = torch.full(masks.shape[1:], -1, dtype=torch.long)
    areas = masks.flatten(1).sum(1)
    for k in torch.argsort(areas, descending=True, stable=True).tolist():
        if areas[k] > 0:
            ids[masks[k]] = k
    return ids


def barycenters(ids: torch.Tensor, num: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per instance of an id map: (K, 2) float (y, x) mean pixel coordinates and (K,) visible pixel counts."""
    h, w = ids.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    valid = ids >= 0
    idx = ids[valid]
    counts = torch.zeros(num, dtype=torch.float64).index_add_(0, idx, torch.ones_like(idx, dtype=torch.float64))
    sy = torch.zeros(num, dtype=torch.float64).index_add_(0, idx, ys[valid])
    sx = torch.zeros(num, dtype=torch.float64).index_add_(0, idx, xs[valid])
    centers = torch.stack([sy, sx], 1) / counts.clamp(min=1)[:, None]
    return centers, counts


def center_heatmap(centers: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """Pixel-wise max of Gaussians (peak 1 at each rounded center, σ, truncated at ±3σ); centers (K, 2) (y, x)."""
    h, w = size
    heat = torch.zeros(h, w, dtype=torch.float32)
    ys = torch.arange(h, dtype=torch.float32)[:, None]
    xs = torch.arange(w, dtype=torch.float32)[None, :]
    reach = 3 * sigma
    for cy, cx in torch.round(centers).tolist():
        dy, dx = ys - cy, xs - cx
        g = torch.exp(-(dy**2 + dx**2) / (2 * sigma**2))
        g = torch.where((dy.abs() <= reach) & (dx.abs() <= reach), g, torch.zeros(()))
        heat = torch.maximum(heat, g)
    return heat


def pair_targets(masks_t: torch.Tensor, masks_r: torch.Tensor, classes: torch.Tensor,
                 settings: TargetSettings = TargetSettings()) -> dict[str, torch.Tensor]:
    """Targets of target frame T for the pair (T, R) (spec §3.2).

    Args:
        masks_t / masks_r: K×H×W bool masks of the same K objects in T and R (empty where absent).
        classes: (K,) contiguous thing classes (semantic index = class + 1; 0 = background).

    Returns:
        ``sem`` H×W long, ``sem_w`` H×W, ``center`` H×W, ``center_w`` H×W, ``off_t`` 2×H×W, ``off_w`` H×W,
        ``off_r`` 2×H×W, ``off_r_w`` H×W (float32; offsets as (dy, dx) = center − pixel).
    """
    k, h, w = masks_t.shape
    masks_t, masks_r = masks_t.bool(), masks_r.bool()
    ids_t = paint_ids(masks_t)
    c_t, _ = barycenters(ids_t, k)
    c_r, area_r = barycenters(paint_ids(masks_r), k)
    area_t = masks_t.flatten(1).sum(1)
    fg = ids_t >= 0
    safe = torch.where(fg, ids_t, k)  # background -> a dummy row k appended to every per-instance table
    inst_w = torch.cat([torch.where(area_t < settings.small_area, settings.small_weight, 1.0).float(), torch.zeros(1)])
    w_fg = inst_w[safe]
    sem = torch.cat([classes.long() + 1, torch.zeros(1, dtype=torch.long)])[safe]
    visible = masks_t.flatten(1).any(1)
    heat = center_heatmap(c_t[visible], (h, w), settings.sigma)
    grid = torch.stack(torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                      indexing="ij"))
    pad = torch.zeros(1, 2, dtype=torch.float64)
    c_t, c_r = torch.cat([c_t, pad]), torch.cat([c_r, pad])
    zero2 = torch.zeros(2, h, w, dtype=torch.float64)
    off_t = torch.where(fg, c_t[safe].permute(2, 0, 1) - grid, zero2)
    in_ref = fg & (torch.cat([area_r, torch.zeros(1, dtype=area_r.dtype)])[safe] > 0)
    off_r = torch.where(in_ref, c_r[safe].permute(2, 0, 1) - grid, zero2)
    bg_w = torch.where(fg, torch.zeros(()), torch.ones(()))
    center_w = w_fg + (bg_w if settings.center_on_background else 0)
    off_w = w_fg + (bg_w if settings.offset_on_background else 0)
    off_r_w = torch.where(in_ref, w_fg, torch.zeros(())) + (bg_w if settings.offset_on_background else 0)
    sem_w = w_fg + bg_w if settings.small_weight_sem else torch.ones(h, w)
    out = {"sem": sem, "sem_w": sem_w, "center": heat, "center_w": center_w, "off_t": off_t, "off_w": off_w,
           "off_r": off_r, "off_r_w": off_r_w}
    return {key: v if key == "sem" else v.float() for key, v in out.items()}


def clip_pair_targets(clip: dict, settings: TargetSettings) -> dict[str, torch.Tensor]:
    """Targets of a clip dict of the shared clip mapper: frame 0 is the target, frame 1 the reference (the frame
    itself for a 1-frame clip)."""
    insts = clip["instances"]
    ref = insts[1] if len(insts) > 1 else insts[0]
    return pair_targets(insts[0].gt_masks.tensor, ref.gt_masks.tensor, insts[0].gt_classes, settings)


@MAPPER_REGISTRY.register()
class InstFlowPairMapper(VideoClipMapper):
    """The shared ``VideoClipMapper`` (2-frame clips, one augmentation for both frames) plus ``instflow_targets``.

    With ``INPUT.CLIP.SAMPLING_SHUFFLE`` the reference is before or after the target (spec §4.4: any other frame).
    """

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True, target_generator=None) -> dict:
        if cfg.INPUT.CLIP.NUM_FRAMES != 2:
            raise ValueError(f"INPUT.CLIP.NUM_FRAMES: InstFlowPairMapper needs 2 (target, reference), "
                             f"got {cfg.INPUT.CLIP.NUM_FRAMES}")
        settings = TargetSettings.from_config(cfg)

        def generate(clip: dict) -> dict:
            clip["instflow_targets"] = clip_pair_targets(clip, settings)
            return clip

        return super().from_config(cfg, is_train, target_generator=generate)
