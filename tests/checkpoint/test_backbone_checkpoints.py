"""ImageNet backbone checkpoints through ``VidsegCheckpointer`` (torchvision ResNet, timm / Microsoft Swin),
own-checkpoint round trips, format detection and file-reading errors."""
import pickle

import pytest
import torch
import torchvision
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_resnet_backbone
from torch import nn

from vidseg.checkpoint import (VidsegCheckpointer, detect_format, load_state_dict_file, swin_to_vidseg,
                               torchvision_resnet_to_d2)
from vidseg.checkpoint.mask2former import rename_pixel_decoder_key
from vidseg.config import get_cfg
from vidseg.modeling.backbone import D2SwinTransformer


class CapturingCheckpointer(VidsegCheckpointer):
    """Keeps the incompatible-keys report of the last load."""

    def _load_model(self, checkpoint):
        self.incompatible = super()._load_model(checkpoint)
        return self.incompatible


class Wrapper(nn.Module):
    """A model whose backbone sits at ``backbone`` like the vidseg meta-architectures."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(2, 2)


def d2_resnet(depth: int) -> nn.Module:
    cfg = get_cfg()
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False  # torchvision puts the stride in the 3x3 conv
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64 if depth < 50 else 256
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    return build_resnet_backbone(cfg, ShapeSpec(channels=3))


@pytest.mark.parametrize("depth", [18, 50])
def test_torchvision_resnet_gives_the_same_features(tmp_path, depth):
    torch.manual_seed(depth)
    tv = getattr(torchvision.models, f"resnet{depth}")(weights=None).eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in tv.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    path = tmp_path / f"resnet{depth}.pth"
    torch.save(tv.state_dict(), path)
    model = Wrapper(d2_resnet(depth)).eval()
    VidsegCheckpointer(model).load(str(path))
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        ref = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
        ours = model.backbone(x)["res5"]
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


def test_torchvision_resnet_renames_by_hand():
    state = {k: torch.zeros(1) for k in ("conv1.weight", "bn1.running_var", "bn1.num_batches_tracked",
                                         "layer1.0.bn3.bias", "layer3.0.downsample.0.weight",
                                         "layer3.0.downsample.1.running_mean", "layer4.2.conv2.weight", "fc.weight")}
    assert set(torchvision_resnet_to_d2(state)) == {
        "stem.conv1.weight", "stem.conv1.norm.running_var", "res2.0.conv3.norm.bias", "res4.0.shortcut.weight",
        "res4.0.shortcut.norm.running_mean", "res5.2.conv2.weight"}


def test_timm_swin_checkpoint_via_model_weights(tmp_path):
    from timm.models.swin_transformer import SwinTransformer

    torch.manual_seed(0)
    ref = SwinTransformer(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4), window_size=4, num_classes=10)
    path = tmp_path / "timm_swin.pth"
    torch.save(ref.state_dict(), path)  # includes head.fc.* and the final norm
    model = Wrapper(D2SwinTransformer(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4), window_size=4))
    checkpointer = CapturingCheckpointer(model)
    assert checkpointer.load(str(path))["__author__"] == "vidseg-converted-swin"
    inc = checkpointer.incompatible
    # an ImageNet file has no output norms (Mask2Former starts them at LayerNorm init too) and no head of ours
    assert sorted(inc.missing_keys) == sorted(k for k in model.state_dict() if ".out_norms." in k or "head" in k)
    assert inc.unexpected_keys == [] and inc.incorrect_shapes == []
    torch.testing.assert_close(model.backbone.trunk.layers[2].downsample.reduction.weight,
                               ref.layers[2].downsample.reduction.weight)


def test_microsoft_swin_layout_shifts_patch_merging_to_the_next_stage():
    state = {"layers.0.downsample.reduction.weight": 0, "layers.2.downsample.norm.bias": 1,
             "layers.1.blocks.0.attn.relative_position_index": 2, "norm2.weight": 3, "norm.weight": 4,
             "head.weight": 5, "patch_embed.proj.weight": 6, "layers.0.blocks.0.attn.qkv.weight": 7}
    assert swin_to_vidseg(state) == {"trunk.layers.1.downsample.reduction.weight": 0,
                                     "trunk.layers.3.downsample.norm.bias": 1, "out_norms.res4.weight": 3,
                                     "trunk.patch_embed.proj.weight": 6, "trunk.layers.0.blocks.0.attn.qkv.weight": 7}


def test_pixel_decoder_renames_by_hand():
    assert rename_pixel_decoder_key("transformer.level_embed") == "encoder.level_embed"
    assert rename_pixel_decoder_key("transformer.encoder.layers.3.norm2.bias") == "encoder.layers.3.norm2.bias"
    assert rename_pixel_decoder_key("adapter_2.norm.weight") == "lateral_convs.1.norm.weight"
    assert rename_pixel_decoder_key("layer_1.weight") == "output_convs.0.weight"
    assert rename_pixel_decoder_key("input_proj.1.0.bias") == "input_proj.1.0.bias"


def test_own_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    src = Wrapper(d2_resnet(18))
    VidsegCheckpointer(src, save_dir=str(tmp_path)).save("model_x")
    dst = Wrapper(d2_resnet(18))
    checkpointer = CapturingCheckpointer(dst)
    assert "__author__" not in checkpointer.load(str(tmp_path / "model_x.pth"))  # not converted
    assert checkpointer.incompatible.missing_keys == [] and checkpointer.incompatible.unexpected_keys == []
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v, msg=k)


def test_detectron2_torchvision_pkl_without_prefix(tmp_path):
    """detectron2's ``convert-torchvision-to-d2`` output (Mask2Former's R-50.pkl): d2 names, no ``backbone.``,
    the classifier as ``stem.fc.*``, matching heuristics requested."""
    torch.manual_seed(1)
    src = d2_resnet(18)
    state = {k: v.numpy() for k, v in src.state_dict().items()}
    state["stem.fc.weight"] = torch.zeros(1000, 512).numpy()
    path = tmp_path / "R-18.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": state, "__author__": "torchvision", "matching_heuristics": True}, f)
    model = Wrapper(d2_resnet(18))
    checkpointer = CapturingCheckpointer(model)
    assert checkpointer.load(str(path))["__author__"] == "vidseg-converted-d2_resnet"
    assert checkpointer.incompatible.missing_keys == ["head.weight", "head.bias"]
    assert checkpointer.incompatible.unexpected_keys == []
    for k, v in src.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[k], v, msg=k)


def test_unknown_format_is_left_to_detectron2(tmp_path):
    path = tmp_path / "c2_names.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {"res2_0_branch2a_w": torch.zeros(2).numpy()}, "__author__": "Caffe2",
                     "matching_heuristics": True}, f)
    model = Wrapper(d2_resnet(18))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loaded = VidsegCheckpointer(model).load(str(path))
    assert loaded["__author__"] == "Caffe2" and loaded["matching_heuristics"] is True
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])  # nothing matched, nothing changed


def test_detect_format():
    own = {"backbone.stem.conv1.weight", "head.weight"}
    assert detect_format({"sem_seg_head.predictor.query_feat.weight": 0}, own) == "mask2former"
    assert detect_format({"backbone.stem.conv1.weight": 0, "head.weight": 0}, own) == "vidseg"
    assert detect_format({"patch_embed.proj.weight": 0, "layers.0.blocks.0.norm1.weight": 0}, own) == "swin"
    assert detect_format({"conv1.weight": 0, "bn1.weight": 0, "layer1.0.conv1.weight": 0}, own) == "torchvision_resnet"
    assert detect_format({"stem.conv1.weight": 0, "res2.0.conv1.weight": 0}, own) == "d2_resnet"
    assert detect_format({"something.else": 0}, own) == "unknown"


def test_file_reading_errors_name_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="MODEL.WEIGHTS=/no/such/file.pth"):
        load_state_dict_file("/no/such/file.pth")
    path = tmp_path / "not_weights.pth"
    torch.save({"epoch": 3, "note": "x"}, path)
    with pytest.raises(ValueError, match="expected a state dict"):
        load_state_dict_file(str(path), key="MODEL.SWIN.WEIGHTS")
    nested = tmp_path / "nested.pth"
    torch.save({"state_dict": {"a": torch.ones(2)}, "epoch": 1}, nested)
    assert list(load_state_dict_file(str(nested))) == ["a"]
