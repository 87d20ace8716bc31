"""Helpers shared by the MSDeformAttn tests: random inputs in Deformable DETR layout and error measures."""
from collections.abc import Callable, Sequence

import torch

# (N, M, D, level shapes (H, W), Lq, P): odd sizes, one-pixel levels, D below / above / not a multiple of the
# CPU kernel's 8-lane block, a single head and a single query; the last case is large enough for the CPU kernel to
# split its N*M*Lq queries over 2+ threads with a chunk boundary inside a head.
CASES = [
    (1, 1, 1, [(1, 1)], 1, 1),
    (2, 2, 3, [(4, 6), (1, 1), (3, 2)], 5, 2),
    (1, 3, 8, [(5, 7), (2, 3)], 9, 4),
    (2, 2, 11, [(1, 4), (6, 1), (1, 1), (3, 3)], 7, 3),
    (3, 1, 17, [(2, 2)], 4, 1),
    (1, 3, 32, [(6, 9), (3, 5), (1, 1)], 40, 4),
]


def make_inputs(
    n: int, m: int, d: int, shapes: Sequence[tuple[int, int]], lq: int, p: int, *, dtype: torch.dtype = torch.float64,
    device: str = "cpu", lo: float = -0.25, hi: float = 1.25, seed: int = 0,
) -> list[torch.Tensor]:
    """[value (N,S,M,D), spatial_shapes (L,2), level_start_index (L,), sampling_locations (N,Lq,M,L,P,2) uniform in
    [lo, hi] (so some points fall outside the map), attention_weights (N,Lq,M,L,P)], drawn in float64 then cast."""
    gen = torch.Generator().manual_seed(seed)
    spatial_shapes = torch.tensor(shapes, dtype=torch.long).view(-1, 2)
    areas = spatial_shapes[:, 0] * spatial_shapes[:, 1]
    starts = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
    n_levels = spatial_shapes.shape[0]
    value = torch.randn(n, int(areas.sum()), m, d, generator=gen, dtype=torch.float64)
    loc = lo + (hi - lo) * torch.rand(n, lq, m, n_levels, p, 2, generator=gen, dtype=torch.float64)
    attn = torch.rand(n, lq, m, n_levels, p, generator=gen, dtype=torch.float64)
    return [value.to(device, dtype), spatial_shapes.to(device), starts.to(device), loc.to(device, dtype),
            attn.to(device, dtype)]


def forward_backward(fn: Callable[..., torch.Tensor], inputs: list[torch.Tensor], seed: int = 1) -> list[torch.Tensor]:
    """[output, grad_value, grad_sampling_locations, grad_attention_weights] of ``fn`` for a random output gradient."""
    leaves = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    out = fn(*leaves)
    gen = torch.Generator().manual_seed(seed)
    grad_out = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.device, out.dtype)
    grads = torch.autograd.grad(out, [leaves[0], leaves[3], leaves[4]], grad_out)
    return [out.detach(), *grads]


def rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected| (in float64; denominators below 1e-30 count as 1e-30)."""
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    assert a.shape == e.shape, f"shape {tuple(a.shape)} != {tuple(e.shape)}"
    if e.numel() == 0:
        return 0.0
    return ((a - e).abs().max() / e.abs().max().clamp_min(1e-30)).item()
