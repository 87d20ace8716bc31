"""``D2SwinTransformer``: timm's Swin Transformer as a detectron2 ``Backbone`` (res2..res5 at strides 4..32).

The trunk is ``timm.models.swin_transformer.SwinTransformer`` built from the variant table below (never from the
hub), in Mask2Former's detection setting: windows always partitioned with the full window and shift whatever the
feature size (``always_partition``), attention masks built per input size, and one LayerNorm per output
(``out_norms``, Mask2Former's ``norm0..norm3``). Any input size works: it is zero-padded to a multiple of the
patch size and the outputs are ``ceil(H / stride) × ceil(W / stride)``. Pretrained weights come only from a local
file (``MODEL.SWIN.WEIGHTS`` or ``MODEL.WEIGHTS`` through ``vidseg.checkpoint``).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
from detectron2.config import CfgNode, configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn
from torch.nn import functional as F

__all__ = ["SWIN_VARIANTS", "SwinSpec", "D2SwinTransformer"]

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
            embed_dim, depths, num_heads, window_size, pretrain_img_size: architecture (see ``SWIN_VARIANTS``).
            out_features: subset of res2..res5 to return.
            drop_path_rate: stochastic depth rate, linearly increasing over all blocks.
            use_checkpoint: activation checkpointing in every stage.
            weights: local ImageNet/timm/Mask2Former checkpoint loaded after construction ("" = random init).
        """
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # timm must never reach the hub; weights are local files only
        from timm.models.swin_transformer import SwinTransformer  # imported here: timm is slow to import

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
        self.trunk = SwinTransformer(
            img_size=pretrain_img_size, patch_size=PATCH_SIZE, embed_dim=embed_dim, depths=tuple(depths),
            num_heads=tuple(num_heads), window_size=window_size, always_partition=True, dynamic_img_size=True,
            num_classes=0, global_pool="", drop_path_rate=drop_path_rate,
        )
        # drop the classification norm/head and the stages after the last requested output
        self.trunk.prune_intermediate_layers(
            [STAGE_OF[f] for f in self._out_features], prune_norm=True, prune_head=True
        )
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
        pad_h, pad_w = (-x.shape[2]) % PATCH_SIZE, (-x.shape[3]) % PATCH_SIZE
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.trunk.patch_embed(x)  # (N, H/4, W/4, C) channels-last
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
