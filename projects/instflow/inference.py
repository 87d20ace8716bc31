"""Frame-level grouping and instance flow (method spec §5.2-5.3; paper §III-C.1 and Eq. 3).

All maps are at one resolution (the output resolution at inference); coordinates are (y, x) pixels and an offset
points from a pixel to its center.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

FLOW_MODES = ("residual", "inter_avg")


def find_centers(heatmap: torch.Tensor, fg: torch.Tensor, *, threshold: float, kernel: int,
                 top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Center NMS: background removal, threshold, max-pool NMS (odd ``kernel``), top-k.

    Args:
        heatmap: H×W raw center heatmap; fg: H×W bool foreground (semantic argmax != background).

    Returns:
        (M, 2) long (y, x) peaks sorted by descending value, and their (M,) heatmap values.
    """
    if kernel % 2 != 1:
        raise ValueError(f"MODEL.INSTFLOW.INFERENCE.NMS_KERNEL must be odd, got {kernel}")
    c = torch.where(fg & (heatmap > threshold), heatmap, torch.full_like(heatmap, -1.0))
    pooled = F.max_pool2d(c[None, None], kernel, stride=1, padding=kernel // 2)[0, 0]
    keep = (c == pooled) & (c > threshold)
    ys, xs = torch.nonzero(keep, as_tuple=True)
    values = heatmap[ys, xs]
    order = torch.argsort(values, descending=True)[:top_k]
    return torch.stack([ys[order], xs[order]], 1), values[order]


def group_pixels(centers: torch.Tensor, offsets: torch.Tensor, fg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Assign every foreground pixel to the nearest center of its vote ``p + O(p)``; drop centers without pixels.

    Args:
        centers: (M, 2) (y, x); offsets: 2×H×W; fg: H×W bool.

    Returns:
        H×W long id map (0 = background, 1..M' = kept instances, in the order of ``centers``) and the (M',) indices
        of the kept centers into ``centers``.
    """
    h, w = fg.shape
    ids = torch.zeros(h, w, dtype=torch.long, device=fg.device)
    if len(centers) == 0:
        return ids, torch.zeros(0, dtype=torch.long, device=fg.device)
    ys, xs = torch.nonzero(fg, as_tuple=True)
    votes = torch.stack([ys + offsets[0, ys, xs], xs + offsets[1, ys, xs]], 1)
    step = 1 << 18  # pixels per distance block: bounds memory at high resolution
    nearest = torch.cat([torch.cdist(votes[s:s + step].float(), centers.float()).argmin(1)
                         for s in range(0, len(ys), step)]) if len(ys) else ys
    counts = torch.bincount(nearest, minlength=len(centers))
    kept = torch.nonzero(counts > 0, as_tuple=True)[0]
    renumber = torch.zeros(len(centers), dtype=torch.long, device=fg.device)
    renumber[kept] = torch.arange(1, len(kept) + 1, device=fg.device)
    ids[ys, xs] = renumber[nearest]
    return ids, kept


def _sampled(ids: torch.Tensor, stride: int) -> torch.Tensor:
    """The ids on a ``stride`` grid (0 elsewhere)."""
    grid = torch.zeros_like(ids)
    grid[::stride, ::stride] = ids[::stride, ::stride]
    return grid


def _per_instance_mean(ids: torch.Tensor, values: torch.Tensor, num: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of C×H×W ``values`` over each id 1..num, and the pixel counts."""
    flat = ids.flatten()
    on = flat > 0
    idx = flat[on] - 1
    sums = torch.zeros(num, values.shape[0], dtype=torch.float64, device=ids.device)
    sums.index_add_(0, idx, values.flatten(1)[:, on].T.double())
    counts = torch.bincount(idx, minlength=num).double()
    return sums / counts.clamp(min=1)[:, None], counts


def instance_flow(ids: torch.Tensor, num: int, off_t: torch.Tensor, off_r: torch.Tensor, centers: torch.Tensor,
                  *, stride: int = 4, mode: str = "residual") -> torch.Tensor:
    """Warped centers ``ĉ_m^R`` in the reference frame for instances 1..num of ``ids`` (paper Eq. 3).

    ``residual``: ``c_m + mean_{p∈Ω'_m}(O^r(p) − O^t(p))``; ``inter_avg``: ``mean_{p∈Ω'_m}(p + O^r(p))``. Ω'_m is
    Ω_m on a ``stride`` grid, or all of Ω_m where that grid misses the instance. Returns (num, 2) float64 (y, x).
    """
    if mode not in FLOW_MODES:
        raise ValueError(f"MODEL.INSTFLOW.INFERENCE.FLOW_MODE: expected one of {FLOW_MODES}, got {mode!r}")
    if mode == "residual":
        values = off_r - off_t
    else:
        h, w = ids.shape
        grid = torch.stack(torch.meshgrid(torch.arange(h, device=ids.device), torch.arange(w, device=ids.device),
                                          indexing="ij")).to(off_r.dtype)
        values = grid + off_r
    mean_s, count_s = _per_instance_mean(_sampled(ids, stride), values, num)
    if (count_s == 0).any():
        mean_all, _ = _per_instance_mean(ids, values, num)
        mean_s = torch.where((count_s == 0)[:, None], mean_all, mean_s)
    return centers.double() + mean_s if mode == "residual" else mean_s
