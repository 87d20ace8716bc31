"""``python -m vidseg.checkpoint.convert``: each registered converter on a random state dict in the official key
layout, the key report (dropped / missing / unexpected / shape mismatch) and loading the written file."""
from __future__ import annotations

import io
import os
import pickle
from contextlib import redirect_stderr, redirect_stdout

import pytest
import torch
import torchvision

from m2f_published_keys import mask2former_r50
from vidseg.checkpoint import VidsegCheckpointer, trunk_prefix
from vidseg.checkpoint.convert import available_converters, convert_state_dict, main
from vidseg.registry import CHECKPOINT_CONVERTER_REGISTRY

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TINY_IFR = os.path.join(ROOT, "configs", "tests", "ifr.yaml")
TINY_BASELINE = os.path.join(ROOT, "configs", "tests", "baseline.yaml")


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def build(config, *opts):
    from vidseg.checkpoint.convert import _build_model

    torch.manual_seed(0)
    return _build_model(config, list(opts))


def test_mask2former_pkl_into_mask2former_vis(tmp_path):
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=g).numpy() for k, s in mask2former_r50(num_classes=40).items()}
    src = tmp_path / "model_final.pkl"
    with open(src, "wb") as f:  # the published layout: numpy arrays under "model"
        pickle.dump({"model": state, "__author__": "Mask2Former"}, f)
    out = tmp_path / "m2f_vis.pth"
    code, printed, err = run(["--from", "mask2former", src, out, "--config-file",
                              os.path.join(ROOT, "configs", "ifr", "m2f_vis_r50.yaml")])
    assert code == 0, err
    n = len(state)
    assert f"mask2former: {n} tensors in, {n - 1} converted, 1 dropped (criterion.empty_weight)" in printed
    assert "missing in the checkpoint (model keeps its init): 0" in printed
    assert "unexpected (not in the model): 0" in printed and "shape mismatch (skipped when loading): 0" in printed
    saved = torch.load(out, weights_only=True)["model"]
    torch.testing.assert_close(saved["pixel_decoder.lateral_convs.0.norm.weight"],
                               torch.from_numpy(state["sem_seg_head.pixel_decoder.adapter_1.norm.weight"]))
    model = build(os.path.join(ROOT, "configs", "ifr", "m2f_vis_r50.yaml"))
    VidsegCheckpointer(model).load(str(out))
    torch.testing.assert_close(model.state_dict()["predictor.class_embed.weight"],
                               torch.from_numpy(state["sem_seg_head.predictor.class_embed.weight"]))


def test_mask2former_coco_into_ifr_reports_the_ifr_only_keys():
    g = torch.Generator().manual_seed(1)
    state = {k: torch.randn(s, generator=g) for k, s in mask2former_r50(num_classes=80).items()}
    model = build(os.path.join(ROOT, "configs", "ifr", "r50.yaml"))
    _, report = convert_state_dict("mask2former", state, model)
    own = model.state_dict()
    assert set(report.missing) == {k for k in own if k.startswith("predictor.ifr_layers.")}
    assert [k for k, _, _ in report.shape_mismatch] == ["predictor.class_embed.weight", "predictor.class_embed.bias"]
    assert report.unexpected and all(k.startswith("predictor.transformer_") for k in report.unexpected)


def _torchvision_resnet18() -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    return torchvision.models.resnet18(weights=None).state_dict()


def test_torchvision_resnet_into_the_fpn_baseline(tmp_path):
    state = _torchvision_resnet18()
    src, out = tmp_path / "resnet18.pth", tmp_path / "r18_d2.pth"
    torch.save(state, src)
    opts = ["MODEL.RESNETS.NORM", "FrozenBN", "MODEL.RESNETS.STRIDE_IN_1X1", "False"]
    code, printed, err = run(["--from", "torchvision", src, out, "--config-file", TINY_BASELINE, *opts])
    assert code == 0, err
    tracked = sum(k.endswith("num_batches_tracked") for k in state)
    assert f"{len(state)} tensors in, {len(state) - 2 - tracked} converted, {2 + tracked} dropped" in printed
    assert "unexpected (not in the model): 0" in printed
    model = build(TINY_BASELINE, *opts)
    assert trunk_prefix(model) == "backbone.bottom_up."  # the ResNet under the FPN
    _, report = convert_state_dict("torchvision", state, model)
    assert report.missing and not any(k.startswith("backbone.bottom_up.") for k in report.missing)
    VidsegCheckpointer(model).load(str(out))
    torch.testing.assert_close(model.state_dict()["backbone.bottom_up.res3.0.shortcut.norm.running_var"],
                               state["layer2.0.downsample.1.running_var"])
    torch.testing.assert_close(model.state_dict()["backbone.bottom_up.stem.conv1.weight"], state["conv1.weight"])


def test_timm_swin_and_resnet(tmp_path):
    import timm

    torch.manual_seed(4)
    swin = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False).state_dict()
    opts = ["MODEL.BACKBONE.NAME", "D2SwinTransformer", "MODEL.SWIN.VARIANT", "tiny_224"]
    model = build(TINY_IFR, *opts)
    out, report = convert_state_dict("timm", swin, model)
    assert not report.unexpected and not report.shape_mismatch
    assert not [k for k in report.missing if k.startswith("backbone.trunk.")]  # the whole trunk is loaded
    assert all(k.startswith(("head.", "norm.")) or k.endswith(("relative_position_index", "attn_mask"))
               for k in report.dropped)
    # timm merges patches at the start of stage i+1: the same place as vidseg's trunk
    torch.testing.assert_close(out["backbone.trunk.layers.1.downsample.reduction.weight"],
                               swin["layers.1.downsample.reduction.weight"])
    resnet = {k: v for k, v in _torchvision_resnet18().items()}  # timm ResNets use torchvision's names
    src = tmp_path / "timm_r18.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in resnet.items()}, str(src))
    code, printed, err = run(["--from", "timm", src, tmp_path / "o.pth"])
    assert code == 0, err
    assert "no --config-file: missing / unexpected keys not checked" in printed
    saved = torch.load(tmp_path / "o.pth", weights_only=True)["model"]
    torch.testing.assert_close(saved["backbone.res5.1.conv2.norm.weight"], resnet["layer4.1.bn2.weight"])


def test_errors_are_one_line_naming_the_file_or_converter(tmp_path):
    code, _, err = run(["--from", "torchvision", tmp_path / "missing.pth", tmp_path / "o.pth"])
    assert code == 2 and err.strip() == f"error: IN={tmp_path / 'missing.pth'}: file not found " \
                                        "(weights are read from local files only)"
    torch.save({"sem_seg_head.predictor.query_feat.weight": torch.zeros(2, 2)}, tmp_path / "m2f.pth")
    code, _, err = run(["--from", "torchvision", tmp_path / "m2f.pth", tmp_path / "o.pth"])
    assert code == 2 and "not a torchvision ResNet checkpoint" in err
    code, _, err = run(["--from", "nosuch", tmp_path / "m2f.pth", tmp_path / "o.pth"])
    assert code == 2 and "--from nosuch: no such converter; registered: " in err and "mask2former" in err
    assert not (tmp_path / "o.pth").exists()


def test_a_package_registers_its_own_converter(tmp_path):
    """Method packages (``instmove``) plug in through the registry, as this stand-in does."""
    name = "_test_pkg"
    CHECKPOINT_CONVERTER_REGISTRY._do_register(name, lambda state, model: {"net." + k: v for k, v in state.items()})
    try:
        assert {"mask2former", "torchvision", "timm", name} <= set(available_converters())
        out, report = convert_state_dict(name, {"a.weight": torch.ones(1)})
        assert list(out) == ["net.a.weight"] and report.dropped == []
    finally:
        CHECKPOINT_CONVERTER_REGISTRY._obj_map.pop(name)
