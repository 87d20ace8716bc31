"""``D2SwinTransformer``: Mask2Former's Swin Transformer as a detectron2 ``Backbone`` (res2..res5 at strides 4..32).

The trunk is written here so that it computes exactly what Mask2Former's Swin computes at *any* input size
(``mask2former/modeling/backbone/swin.py``, the detection variant of the original Swin code): every block
zero-pads its (normalised) feature map to a multiple of the window, *then* rolls it by half a window, and the
shifted-window attention mask (-100 between tokens that came from different sides of the roll) is built on that
padded grid; padded tokens are attended to like any other (no extra mask), patch merging zero-pads odd sizes,
and every output has its own LayerNorm (Mask2Former's ``norm0..norm3``). timm's Swin rolls before padding, which
agrees only when every stage is a multiple of the window (e.g. 384×384 with window 12). Parameter names are
timm's (``trunk.layers.i.downsample`` merges at the start of stage i), so ImageNet (Microsoft / timm) and
Mask2Former checkpoints load through ``vidseg.checkpoint.swin_to_vidseg`` unchanged. Outputs are
``ceil(H / stride) × ceil(W / stride)``. Pretrained weights come only from a local file (``MODEL.SWIN.WEIGHTS``
or ``MODEL.WEIGHTS`` through ``vidseg.checkpoint``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from detectron2.config import CfgNode, configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

__all__ = ["SWIN_VARIANTS", "SwinSpec", "D2SwinTransformer", "SwinTrunk", "shifted_window_mask"]

logger = logging.getLogger(__name__)

PATCH_SIZE = 4
STAGE_OF = {"res2": 0, "res3": 1, "res4": 2, "res5": 3}


@dataclass(frozen=True)
class SwinSpec:
    """Architecture of one Swin variant (Liu et al. 2021, Table 1 / released checkpoints)."""

    embed_dim: int
    depths: tuple[int, int, int, int]
    num_heads: tuple[int, int, int, int]
    window_size: int
    pretrain_img_size: int
    timm_name: str  # the matching timm model name, for users who export timm weights to a local file

    @property
    def channels(self) -> tuple[int, int, int, int]:
        return tuple(self.embed_dim * 2**i for i in range(4))  # type: ignore[return-value]


SWIN_VARIANTS: dict[str, SwinSpec] = {
    "tiny_224": SwinSpec(96, (2, 2, 6, 2), (3, 6, 12, 24), 7, 224, "swin_tiny_patch4_window7_224"),
    "small_224": SwinSpec(96, (2, 2, 18, 2), (3, 6, 12, 24), 7, 224, "swin_small_patch4_window7_224"),
    "base_224": SwinSpec(128, (2, 2, 18, 2), (4, 8, 16, 32), 7, 224, "swin_base_patch4_window7_224"),
    "base_384": SwinSpec(128, (2, 2, 18, 2), (4, 8, 16, 32), 12, 384, "swin_base_patch4_window12_384"),
    "large_224": SwinSpec(192, (2, 2, 18, 2), (6, 12, 24, 48), 7, 224, "swin_large_patch4_window7_224"),
    "large_384": SwinSpec(192, (2, 2, 18, 2), (6, 12, 24, 48), 12, 384, "swin_large_patch4_window12_384"),
}



def _windows(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, Hp, Wp, C) -> (B * nW, ws * ws, C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def _unwindows(x: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """Inverse of ``_windows``: (B * nW, ws * ws, C) -> (B, h, w, C)."""
    c = x.shape[-1]
    x = x.view(-1, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_mask(hp: int, wp: int, ws: int, shift: int, device=None) -> torch.Tensor:
    """Additive mask (nW, ws², ws²) of the shifted windows of a padded ``hp × wp`` grid (multiples of ``ws``):
    0 between tokens of the same region of the rolled grid, -100 otherwise (Mask2Former's values)."""
    region = torch.zeros(hp, wp, device=device)
    cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    for i, rows in enumerate(cuts):
        for j, cols in enumerate(cuts):
            region[rows, cols] = 3 * i + j
    r = _windows(region[None, :, :, None], ws)[..., 0]  # (nW, ws²)
    diff = r[:, None, :] - r[:, :, None]
    return torch.where(diff != 0, torch.tensor(-100.0, device=device), torch.tensor(0.0, device=device))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned relative position bias."""

    def __init__(self, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__()
        self.num_heads, self.window_size = num_heads, window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        ys, xs = torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
        ys, xs = ys.flatten(), xs.flatten()
        index = (ys[:, None] - ys[None, :] + window_size - 1) * (2 * window_size - 1) + (xs[:, None] - xs[None, :]
                                                                                       + window_size - 1)
        self.register_buffer("relative_position_index", index, persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x: (B * nW, n, C); mask: None or (nW, n, n) additive."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        bias = bias.permute(2, 0, 1).to(q.dtype)  # (heads, n, n)
        if mask is not None:  # windows of one image share the mask: broadcast it over the images
            nw = mask.shape[0]
            bias = bias[None] + mask.to(q.dtype)[:, None]  # (nW, heads, n, n)
            q, k, v = (t.reshape(bw // nw, nw, self.num_heads, n, -1) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).reshape(bw, self.num_heads, n, -1)
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero the residual branch of whole samples with probability p (rescaled)."""
    if p == 0.0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1.0 - p)
    return x * keep / (1.0 - p)


class SwinBlock(nn.Module):
    """(Shifted-)window attention + MLP, pre-norm residuals. Pads to the window, then shifts (Mask2Former)."""

    def __init__(self, dim: int, num_heads: int, window_size: int, shift: int, drop_path: float) -> None:
        super().__init__()
        self.window_size, self.shift, self.drop_path = window_size, shift, drop_path
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window_size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, C); mask: the stage's shifted-window mask on the padded grid (unused if no shift)."""
        b, h, w, c = x.shape
        ws, s = self.window_size, self.shift
        y = F.pad(self.norm1(x), (0, 0, 0, (-w) % ws, 0, (-h) % ws))
        hp, wp = y.shape[1:3]
        if s:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        y = _unwindows(self.attn(_windows(y, ws), mask if s else None), ws, hp, wp)
        if s:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        x = x + _drop_path(y[:, :h, :w], self.drop_path, self.training)
        return x + _drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class PatchMerging(nn.Module):
    """2×2 neighbourhood -> one token (zero-pads odd sizes), concatenated as (0,0), (1,0), (0,1), (1,1)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = x.reshape(b, (h + 1) // 2, 2, (w + 1) // 2, 2, c).permute(0, 1, 3, 4, 2, 5).flatten(3)
        return self.reduction(self.norm(x))


class PatchEmbed(nn.Module):
    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, ceil(H/4), ceil(W/4), C), zero-padding the image to a multiple of the patch."""
        x = F.pad(x, (0, (-x.shape[3]) % PATCH_SIZE, 0, (-x.shape[2]) % PATCH_SIZE))
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class SwinStage(nn.Module):
    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int, drop_paths: list[float],
                 downsample: bool) -> None:
        super().__init__()
        self.window_size = window_size
        self.downsample = PatchMerging(dim // 2) if downsample else nn.Identity()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2, drop_paths[i])
            for i in range(depth)
        )
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        ws = self.window_size
        hp, wp = -(-x.shape[1] // ws) * ws, -(-x.shape[2] // ws) * ws
        mask = shifted_window_mask(hp, wp, ws, ws // 2, x.device)  # on the padded grid (Mask2Former)
        for blk in self.blocks:
            if self.grad_checkpointing and self.training:
                x = checkpoint(blk, x, mask, use_reentrant=False)
            else:
                x = blk(x, mask)
        return x


class SwinTrunk(nn.Module):
    """Patch embedding + 4 stages (stage i > 0 starts with patch merging); stages after ``num_stages`` dropped.
    Weights initialised as Swin: truncated normal (std 0.02) linear weights, zero biases, unit LayerNorms."""

    def __init__(self, embed_dim: int, depths: tuple[int, ...], num_heads: tuple[int, ...], window_size: int,
                 drop_path_rate: float, num_stages: int = 4) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(embed_dim)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()  # over all blocks, as Swin
        self.layers = nn.ModuleList(
            SwinStage(embed_dim * 2**i, depths[i], num_heads[i], window_size,
                      rates[sum(depths[:i]):sum(depths[:i + 1])], downsample=i > 0)
            for i in range(num_stages)
        )
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def set_grad_checkpointing(self, enable: bool) -> None:
        for stage in self.layers:
            stage.grad_checkpointing = enable


@BACKBONE_REGISTRY.register()
class D2SwinTransformer(Backbone):
    """Swin backbone. Input (N, 3, H, W) normalised image; output {name: (N, C_name, ceil(H/s), ceil(W/s))}."""

    @configurable
    def __init__(
        self,
        *,
        embed_dim: int,
        depths: tuple[int, ...],
        num_heads: tuple[int, ...],
        window_size: int,
        pretrain_img_size: int = 224,
        out_features: tuple[str, ...] = ("res2", "res3", "res4", "res5"),
        drop_path_rate: float = 0.3,
        use_checkpoint: bool = False,
        weights: str = "",
    ) -> None:
        """
        Args:
            embed_dim, depths, num_heads, window_size, pretrain_img_size: architecture (see ``SWIN_VARIANTS``;
                the pretraining size only names the variant: no absolute position embedding, as Mask2Former).
            out_features: subset of res2..res5 to return.
            drop_path_rate: stochastic depth rate, linearly increasing over all blocks.
            use_checkpoint: activation checkpointing in every stage.
            weights: local ImageNet/timm/Mask2Former checkpoint loaded after construction ("" = random init).
        """
        super().__init__()
        if len(depths) != 4 or len(num_heads) != 4:
            raise ValueError(f"D2SwinTransformer: depths and num_heads need 4 stages, got {depths}, {num_heads}")
        unknown = [f for f in out_features if f not in STAGE_OF]
        if unknown or not out_features:
            raise ValueError(f"MODEL.SWIN.OUT_FEATURES: expected a non-empty subset of {list(STAGE_OF)}, got "
                             f"{list(out_features)}")
        self._out_features = sorted(out_features, key=STAGE_OF.__getitem__)
        channels = [embed_dim * 2**i for i in range(4)]
        self._out_feature_channels = {f: channels[STAGE_OF[f]] for f in self._out_features}
        self._out_feature_strides = {f: PATCH_SIZE * 2 ** STAGE_OF[f] for f in self._out_features}
        # stages after the last requested output are not built
        self.trunk = SwinTrunk(embed_dim, tuple(depths), tuple(num_heads), window_size, drop_path_rate,
                               num_stages=STAGE_OF[self._out_features[-1]] + 1)
        self.trunk.set_grad_checkpointing(use_checkpoint)
        self.out_norms = nn.ModuleDict({f: nn.LayerNorm(self._out_feature_channels[f]) for f in self._out_features})
        if weights:
            self.load_pretrained(weights)

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: ShapeSpec | None = None) -> dict:
        if input_shape is not None and input_shape.channels not in (None, 3):
            raise ValueError(f"D2SwinTransformer: expects 3 input channels (MODEL.PIXEL_MEAN), got "
                             f"{input_shape.channels}")
        variant = cfg.MODEL.SWIN.VARIANT
        if variant not in SWIN_VARIANTS:
            raise ValueError(f"MODEL.SWIN.VARIANT: expected one of {sorted(SWIN_VARIANTS)}, got {variant!r}")
        spec = SWIN_VARIANTS[variant]
        return {
            "embed_dim": spec.embed_dim,
            "depths": spec.depths,
            "num_heads": spec.num_heads,
            "window_size": spec.window_size,
            "pretrain_img_size": spec.pretrain_img_size,
            "out_features": tuple(cfg.MODEL.SWIN.OUT_FEATURES),
            "drop_path_rate": cfg.MODEL.SWIN.DROP_PATH_RATE,
            "use_checkpoint": cfg.MODEL.SWIN.USE_CHECKPOINT,
            "weights": cfg.MODEL.SWIN.WEIGHTS,
        }

    def load_pretrained(self, path: str) -> None:
        """Load a local Swin checkpoint (original Microsoft, timm or Mask2Former key layout; ``.pth``, ``.pkl``
        or ``.safetensors``). Classification head/norm are ignored; window-size mismatches of the relative
        position tables are interpolated. Raises if the file is missing or holds no Swin weights."""
        from vidseg.checkpoint import fit_relative_position_tables, load_state_dict_file, swin_to_vidseg

        state = swin_to_vidseg(load_state_dict_file(path, key="MODEL.SWIN.WEIGHTS"))
        own = self.state_dict()
        state = fit_relative_position_tables(state, own)
        matched = [k for k in state if k in own]
        if not matched:
            raise ValueError(f"MODEL.SWIN.WEIGHTS={path}: no Swin parameter found (expected keys such as "
                             f"'patch_embed.proj.weight' or 'layers.0.blocks.0.attn.qkv.weight')")
        bad = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in matched
               if tuple(state[k].shape) != tuple(own[k].shape)]
        if bad:
            raise ValueError(f"MODEL.SWIN.WEIGHTS={path}: shape mismatch (wrong MODEL.SWIN.VARIANT?): {bad[0]}")
        result = self.load_state_dict({k: state[k] for k in matched}, strict=False)
        logger.info("Swin weights from %s: %d tensors loaded; not in file: %s; unused: %s", path, len(matched),
                    result.missing_keys, sorted(set(state) - set(own)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (N, 3, H, W) -> {res_k: (N, C_k, ceil(H / s_k), ceil(W / s_k))} for the configured outputs."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"D2SwinTransformer: expected input (N, 3, H, W), got {tuple(x.shape)}")
        x = self.trunk.patch_embed(x)  # (N, ceil(H/4), ceil(W/4), C) channels-last
        outputs = {}
        for stage, layer in enumerate(self.trunk.layers):
            x = layer(x)
            name = f"res{stage + 2}"
            if name in self.out_norms:
                outputs[name] = self.out_norms[name](x).permute(0, 3, 1, 2).contiguous()
        return outputs

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {
            f: ShapeSpec(channels=self._out_feature_channels[f], stride=self._out_feature_strides[f])
            for f in self._out_features
        }

    @property
    def size_divisibility(self) -> int:
        return 32
