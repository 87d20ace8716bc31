"""Key names and shapes of Mask2Former's published checkpoints, written out from its module definitions
(``MaskFormer`` = ``backbone`` + ``sem_seg_head.{pixel_decoder,predictor}`` + ``criterion``), independently of
vidseg's modules. Values are filled in by the tests."""
from __future__ import annotations

Shapes = dict[str, tuple[int, ...]]


def _norm(prefix: str, c: int, bn: bool = False) -> Shapes:
    keys = ("weight", "bias", "running_mean", "running_var") if bn else ("weight", "bias")
    return {f"{prefix}.{k}": (c,) for k in keys}


def resnet50_keys(prefix: str = "backbone.") -> Shapes:
    """detectron2 ResNet-50 (FrozenBN, as in Mask2Former's R50 models)."""
    out: Shapes = {f"{prefix}stem.conv1.weight": (64, 3, 7, 7), **_norm(f"{prefix}stem.conv1.norm", 64, bn=True)}
    stages = [(3, 64, 64, 256), (4, 256, 128, 512), (6, 512, 256, 1024), (3, 1024, 512, 2048)]
    for s, (blocks, cin, mid, cout) in enumerate(stages):
        for b in range(blocks):
            p = f"{prefix}res{s + 2}.{b}."
            c_in = cin if b == 0 else cout
            if b == 0:
                out[p + "shortcut.weight"] = (cout, c_in, 1, 1)
                out.update(_norm(p + "shortcut.norm", cout, bn=True))
            for name, shape in (("conv1", (mid, c_in, 1, 1)), ("conv2", (mid, mid, 3, 3)), ("conv3", (cout, mid, 1, 1))):
                out[p + name + ".weight"] = shape
                out.update(_norm(p + name + ".norm", shape[0], bn=True))
    return out


def swin_keys(embed: int, depths: tuple[int, ...], heads: tuple[int, ...], window: int,
              prefix: str = "backbone.") -> Shapes:
    """Mask2Former's ``D2SwinTransformer`` (Swin detection code: merging at the end of stages 0-2, norm0..3)."""
    out: Shapes = {f"{prefix}patch_embed.proj.weight": (embed, 3, 4, 4), f"{prefix}patch_embed.proj.bias": (embed,),
                   **_norm(f"{prefix}patch_embed.norm", embed)}
    for i, (depth, h) in enumerate(zip(depths, heads)):
        c = embed * 2**i
        for j in range(depth):
            p = f"{prefix}layers.{i}.blocks.{j}."
            out.update(_norm(p + "norm1", c))
            out[p + "attn.relative_position_bias_table"] = ((2 * window - 1) ** 2, h)
            out[p + "attn.relative_position_index"] = (window * window, window * window)
            out[p + "attn.qkv.weight"], out[p + "attn.qkv.bias"] = (3 * c, c), (3 * c,)
            out[p + "attn.proj.weight"], out[p + "attn.proj.bias"] = (c, c), (c,)
            out.update(_norm(p + "norm2", c))
            out[p + "mlp.fc1.weight"], out[p + "mlp.fc1.bias"] = (4 * c, c), (4 * c,)
            out[p + "mlp.fc2.weight"], out[p + "mlp.fc2.bias"] = (c, 4 * c), (c,)
        if i < len(depths) - 1:
            out.update(_norm(f"{prefix}layers.{i}.downsample.norm", 4 * c))
            out[f"{prefix}layers.{i}.downsample.reduction.weight"] = (2 * c, 4 * c)
        out.update(_norm(f"{prefix}norm{i}", c))
    return out


def pixel_decoder_keys(in_channels: dict[str, int], conv_dim: int = 256, mask_dim: int = 256, enc_layers: int = 6,
                       heads: int = 8, points: int = 4, ffn: int = 1024,
                       prefix: str = "sem_seg_head.pixel_decoder.") -> Shapes:
    """``MSDeformAttnPixelDecoder`` on res2..res5 (deformable encoder on res3..res5, one FPN level on res2)."""
    d, levels = conv_dim, 3
    out: Shapes = {}
    for i, f in enumerate(("res5", "res4", "res3")):
        out[f"{prefix}input_proj.{i}.0.weight"] = (d, in_channels[f], 1, 1)
        out[f"{prefix}input_proj.{i}.0.bias"] = (d,)
        out.update(_norm(f"{prefix}input_proj.{i}.1", d))
    out[f"{prefix}transformer.level_embed"] = (levels, d)
    for lyr in range(enc_layers):
        p = f"{prefix}transformer.encoder.layers.{lyr}."
        for name, rows in (("sampling_offsets", heads * levels * points * 2),
                           ("attention_weights", heads * levels * points), ("value_proj", d), ("output_proj", d)):
            out[p + f"self_attn.{name}.weight"], out[p + f"self_attn.{name}.bias"] = (rows, d), (rows,)
        out.update(_norm(p + "norm1", d))
        out[p + "linear1.weight"], out[p + "linear1.bias"] = (ffn, d), (ffn,)
        out[p + "linear2.weight"], out[p + "linear2.bias"] = (d, ffn), (d,)
        out.update(_norm(p + "norm2", d))
    out[f"{prefix}mask_features.weight"], out[f"{prefix}mask_features.bias"] = (mask_dim, d, 1, 1), (mask_dim,)
    out[f"{prefix}adapter_1.weight"] = (d, in_channels["res2"], 1, 1)
    out.update(_norm(f"{prefix}adapter_1.norm", d))
    out[f"{prefix}layer_1.weight"] = (d, d, 3, 3)
    out.update(_norm(f"{prefix}layer_1.norm", d))
    return out


def predictor_keys(num_classes: int, num_queries: int, hidden: int = 256, ffn: int = 2048, layers: int = 9,
                   mask_dim: int = 256, prefix: str = "sem_seg_head.predictor.") -> Shapes:
    """(Video)MultiScaleMaskedTransformerDecoder: ``num_classes`` excludes the no-object logit."""
    d = hidden
    out: Shapes = {}
    for i in range(layers):
        for group, attn in (("transformer_self_attention_layers", "self_attn"),
                            ("transformer_cross_attention_layers", "multihead_attn")):
            p = f"{prefix}{group}.{i}."
            out[p + f"{attn}.in_proj_weight"], out[p + f"{attn}.in_proj_bias"] = (3 * d, d), (3 * d,)
            out[p + f"{attn}.out_proj.weight"], out[p + f"{attn}.out_proj.bias"] = (d, d), (d,)
            out.update(_norm(p + "norm", d))
        p = f"{prefix}transformer_ffn_layers.{i}."
        out[p + "linear1.weight"], out[p + "linear1.bias"] = (ffn, d), (ffn,)
        out[p + "linear2.weight"], out[p + "linear2.bias"] = (d, ffn), (d,)
        out.update(_norm(p + "norm", d))
    out.update(_norm(f"{prefix}decoder_norm", d))
    out[f"{prefix}query_feat.weight"] = (num_queries, d)
    out[f"{prefix}query_embed.weight"] = (num_queries, d)
    out[f"{prefix}level_embed.weight"] = (3, d)
    out[f"{prefix}class_embed.weight"], out[f"{prefix}class_embed.bias"] = (num_classes + 1, d), (num_classes + 1,)
    for i, rows in enumerate((d, d, mask_dim)):
        out[f"{prefix}mask_embed.layers.{i}.weight"], out[f"{prefix}mask_embed.layers.{i}.bias"] = (rows, d), (rows,)
    return out


R50_CHANNELS = {"res2": 256, "res3": 512, "res4": 1024, "res5": 2048}


def mask2former_r50(num_classes: int, num_queries: int = 100) -> Shapes:
    """COCO instance (80 classes) / YouTube-VIS (40) Mask2Former R-50 checkpoint."""
    return {**resnet50_keys(), **pixel_decoder_keys(R50_CHANNELS),
            **predictor_keys(num_classes, num_queries), "criterion.empty_weight": (num_classes + 1,)}


def mask2former_swin(embed: int, depths, swin_heads, window: int, num_classes: int, num_queries: int, *,
                     pixel: dict | None = None, predictor: dict | None = None) -> Shapes:
    """Mask2Former with a Swin backbone; ``pixel`` / ``predictor``: keyword overrides of the head sizes."""
    channels = {f"res{i + 2}": embed * 2**i for i in range(4)}
    return {**swin_keys(embed, depths, swin_heads, window), **pixel_decoder_keys(channels, **(pixel or {})),
            **predictor_keys(num_classes, num_queries, **(predictor or {})),
            "criterion.empty_weight": (num_classes + 1,)}
