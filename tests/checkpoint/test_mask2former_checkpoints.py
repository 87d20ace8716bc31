"""Mask2Former's published checkpoints (key names and shapes written out in ``m2f_published_keys``) load into the
IFR model and its Mask2Former-VIS switch: nothing missing or unexpected outside the IFR-only modules."""
import os
import pickle

import pytest
import torch
from detectron2.modeling import build_model

import projects.ifr  # noqa: F401  (IFR meta-architecture and MODEL.IFR keys)
import vidseg.modeling  # noqa: F401
from m2f_published_keys import mask2former_r50, mask2former_swin
from vidseg.checkpoint import VidsegCheckpointer, convert_to_vidseg
from vidseg.config import load_config

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TINY_HEADS = dict(pixel=dict(conv_dim=32, mask_dim=32, enc_layers=2, heads=4, ffn=64),
                  predictor=dict(hidden=32, ffn=64, layers=3, mask_dim=32))


def build(config: str, *opts: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(load_config(os.path.join(ROOT, config), ["MODEL.DEVICE", "cpu", *opts]))


def fill(shapes: dict, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


def load(model, state):
    fmt, converted = convert_to_vidseg(state, model)
    incompatible = VidsegCheckpointer(model)._load_model({"model": converted})
    return fmt, incompatible


def assert_copied(model, state, pairs):
    own = model.state_dict()
    for ours, theirs in pairs:
        torch.testing.assert_close(own[ours], state[theirs], msg=ours)


def test_coco_r50_into_ifr_leaves_only_ifr_modules_and_class_head_random():
    model = build("configs/ifr/r50.yaml")
    state = fill(mask2former_r50(num_classes=80))
    fmt, inc = load(model, state)
    assert fmt == "mask2former"
    ifr_only = {k for k in model.state_dict() if k.startswith("predictor.ifr_layers.")}
    assert ifr_only and set(inc.missing_keys) == ifr_only | {"predictor.class_embed.weight", "predictor.class_embed.bias"}
    assert {k for k, _, _ in inc.incorrect_shapes} == {"predictor.class_embed.weight", "predictor.class_embed.bias"}
    # the image decoder's layers have no counterpart in IFR (its layers start random, as in the paper)
    assert inc.unexpected_keys and all(k.startswith("predictor.transformer_") for k in inc.unexpected_keys)
    assert_copied(model, state, [
        ("backbone.res4.5.conv3.norm.running_var", "backbone.res4.5.conv3.norm.running_var"),
        ("pixel_decoder.encoder.layers.5.self_attn.sampling_offsets.weight",
         "sem_seg_head.pixel_decoder.transformer.encoder.layers.5.self_attn.sampling_offsets.weight"),
        ("pixel_decoder.encoder.level_embed", "sem_seg_head.pixel_decoder.transformer.level_embed"),
        ("pixel_decoder.lateral_convs.0.norm.weight", "sem_seg_head.pixel_decoder.adapter_1.norm.weight"),
        ("pixel_decoder.output_convs.0.weight", "sem_seg_head.pixel_decoder.layer_1.weight"),
        ("pixel_decoder.input_proj.2.0.weight", "sem_seg_head.pixel_decoder.input_proj.2.0.weight"),
        ("predictor.query_feat.weight", "sem_seg_head.predictor.query_feat.weight"),
        ("predictor.mask_embed.layers.2.bias", "sem_seg_head.predictor.mask_embed.layers.2.bias"),
    ])


def test_ytvis_r50_into_mask2former_vis_switch_loads_everything():
    model = build("configs/ifr/r50.yaml", "MODEL.IFR.ENABLED", "False", "MODEL.IFR.CLASS_LOSS", "ce")
    state = fill(mask2former_r50(num_classes=40), seed=1)
    fmt, inc = load(model, state)
    assert fmt == "mask2former"
    assert (inc.missing_keys, inc.unexpected_keys, inc.incorrect_shapes) == ([], [], [])
    assert_copied(model, state, [
        ("predictor.transformer_cross_attention_layers.8.multihead_attn.in_proj_weight",
         "sem_seg_head.predictor.transformer_cross_attention_layers.8.multihead_attn.in_proj_weight"),
        ("predictor.class_embed.weight", "sem_seg_head.predictor.class_embed.weight"),
    ])


def test_swin_checkpoint_file_end_to_end(tmp_path):
    """A Mask2Former Swin-T model file (.pkl of numpy arrays, Microsoft-layout backbone keys) through
    ``VidsegCheckpointer.load``: every parameter of the Mask2Former-VIS switch comes from the file."""
    model = build("configs/tests/ifr_m2f.yaml", "MODEL.BACKBONE.NAME", "D2SwinTransformer",
                  "MODEL.SWIN.VARIANT", "tiny_224")
    state = fill(mask2former_swin(96, (2, 2, 6, 2), (3, 6, 12, 24), 7, num_classes=3, num_queries=8, **TINY_HEADS))
    path = tmp_path / "m2f_swin_t.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()}, "__author__": "mask2former"}, f)
    VidsegCheckpointer(model).load(str(path))
    assert_copied(model, state, [
        ("backbone.trunk.layers.1.downsample.reduction.weight", "backbone.layers.0.downsample.reduction.weight"),
        ("backbone.trunk.layers.3.downsample.norm.bias", "backbone.layers.2.downsample.norm.bias"),
        ("backbone.trunk.layers.2.blocks.5.attn.relative_position_bias_table",
         "backbone.layers.2.blocks.5.attn.relative_position_bias_table"),
        ("backbone.out_norms.res5.weight", "backbone.norm3.weight"),
        ("backbone.trunk.patch_embed.proj.weight", "backbone.patch_embed.proj.weight"),
        ("predictor.transformer_ffn_layers.2.linear2.weight", "sem_seg_head.predictor.transformer_ffn_layers.2.linear2.weight"),
    ])
    fmt, inc = load(model, state)
    assert fmt == "mask2former"
    assert (inc.missing_keys, inc.unexpected_keys, inc.incorrect_shapes) == ([], [], [])


@pytest.mark.slow
def test_coco_swin_l_200q_into_ifr_swin_l_100q():
    """The headline init: COCO Swin-L (200 queries, 80 classes) into IFR Swin-L (100 queries, 40 classes)."""
    model = build("configs/ifr/swin_l.yaml")
    state = fill(mask2former_swin(192, (2, 2, 18, 2), (6, 12, 24, 48), 12, num_classes=80, num_queries=200))
    fmt, inc = load(model, state)
    assert fmt == "mask2former"
    skipped = {f"predictor.{n}" for n in ("class_embed.weight", "class_embed.bias", "query_feat.weight",
                                           "query_embed.weight")}
    assert {k for k, _, _ in inc.incorrect_shapes} == skipped
    assert set(inc.missing_keys) == {k for k in model.state_dict() if k.startswith("predictor.ifr_layers.")} | skipped
    assert all(k.startswith("predictor.transformer_") for k in inc.unexpected_keys)
    assert_copied(model, state, [("backbone.trunk.layers.2.blocks.17.mlp.fc2.weight",
                                  "backbone.layers.2.blocks.17.mlp.fc2.weight")])
