"""Import of the official InstMove checkpoint layout (``projects/instmove/convert.py``), tested with a random
state dict built in that layout (key names and Sequential indices of the official ``Predictor``, InstMove README)."""
import pytest
import torch
from torch import nn

from projects.instmove.convert import is_official_instmove, load_instmove_weights, official_to_vidseg
from projects.instmove.model import InstMoveNet

from instmove_testutils import reduced_cfg

MOTION = (4, 6, 10, 12, 14, 18)  # distinct widths: a mis-mapped conv index cannot load by accident
MEM_DIM = 18


def _cfg():
    return reduced_cfg(size=32, MOTION_ENCODER_CHANNELS=MOTION, MEMORY_DIM=MEM_DIM, DECODER_BLOCK="residual",
                       IMAGE_ENCODER="trainable")


def _official_motion_encoder():
    layers, cin = [], 1
    for i, c in enumerate(MOTION):
        layers += [nn.Conv3d(cin, c, 3, padding=1), nn.ReLU()]
        if i in (0, 1, 3, 5):
            layers.append(nn.MaxPool3d((1, 2, 2), (1, 2, 2)))
        cin = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool3d([1, None, None]))


def official_state_dict() -> tuple[dict, dict[str, nn.Module]]:
    """A random state dict in the official layout, and the official-style modules it came from."""
    import torchvision
    from torchvision.ops.misc import FrozenBatchNorm2d

    torch.manual_seed(0)
    mods = {
        "encoder": nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ELU(), nn.Conv2d(8, 8, 3, 1, 1), nn.ELU(),
                                 nn.Conv2d(8, 16, 3, 2, 1), nn.ELU(), nn.Conv2d(16, 16, 3, 1, 1), nn.ELU()),
        "memory.motion_matching_encoder": _official_motion_encoder(),
        "memory.motion_context_encoder": _official_motion_encoder(),
        "memory.embedder": nn.Sequential(nn.ConvTranspose2d(MEM_DIM, 32, 3, 2, 1, 1), nn.ReLU(),
                                         nn.ConvTranspose2d(32, 16, 3, 2, 1, 1), nn.ReLU()),
        "attention_func": nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 8), nn.ReLU(),
                                        nn.Linear(8, 16), nn.Sigmoid()),
        "decoder.layer_m": nn.Sequential(nn.ConvTranspose2d(32, 16, 3, 2, 1, 1), nn.ELU()),
        "decoder.layer_f": nn.Sequential(nn.ConvTranspose2d(16, 8, 3, 1, 1), nn.ELU(), nn.ConvTranspose2d(8, 8, 3, 2, 1, 1),
                                         nn.ELU(), nn.ConvTranspose2d(8, 1, 3, 1, 1)),
    }
    state = {}
    for prefix, m in mods.items():
        state.update({f"{prefix}.{k}": v for k, v in m.state_dict().items()})
    state["memory.memory_w"] = torch.randn(20, MEM_DIM)
    for i in range(2):
        state[f"convlstm_list.{i}.conv2d_x.weight"] = torch.randn(64, 16, 3, 3)
        state[f"convlstm_list.{i}.conv2d_h.weight"] = torch.randn(64, 16, 3, 3)
        state[f"convlstm_list.{i}.conv2d_x.bias"] = torch.randn(64)
        state[f"convlstm_list.{i}.conv2d_h.bias"] = torch.randn(64)
    for layer, skip_c, c in (("layer_1", 512, 32), ("layer_2", 256, 16)):
        state[f"decoder.{layer}.skip_conv.weight"] = torch.randn(c, skip_c, 3, 3)
        state[f"decoder.{layer}.skip_conv.bias"] = torch.randn(c)
        for conv in ("conv1", "conv2"):
            state[f"decoder.{layer}.out_conv.{conv}.weight"] = torch.randn(c, c, 3, 3)
            state[f"decoder.{layer}.out_conv.{conv}.bias"] = torch.randn(c)
    resnet = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    for k, v in resnet.state_dict().items():
        if not k.startswith("fc."):  # IntermediateLayerGetter drops avgpool / fc; layer3 / layer4 stay
            state[f"encoder_img.body.{k}"] = torch.randn_like(v) if v.is_floating_point() else v
    return {f"module.{k}": v for k, v in state.items()}, mods


def test_official_layout_converts_and_loads_strictly(tmp_path):
    state, mods = official_state_dict()
    assert is_official_instmove(state)
    ours = official_to_vidseg(state)
    assert not any(".layer3." in k or ".layer4." in k for k in ours)
    net = InstMoveNet(_cfg())
    net.load_state_dict(ours, strict=True)
    assert torch.equal(net.memory.bank, state["module.memory.memory_w"])
    assert torch.equal(net.gate.fc2.weight, state["module.attention_func.4.weight"])
    assert torch.equal(net.decoder.head[1].weight, state["module.decoder.layer_f.2.weight"])
    assert torch.equal(net.image_encoder.layer2[3].conv2.weight, state["module.encoder_img.body.layer2.3.conv2.weight"])
    # functional: the official Sequentials and our blocks compute the same thing from the converted weights
    x = (torch.rand(2, 1, 32, 32) > 0.5).float()
    torch.testing.assert_close(net.mask_encoder(x), mods["encoder"](x))
    seq = (torch.rand(2, 3, 32, 32) > 0.5).float()
    diff = (seq[:, 1:] - seq[:, :-1]).unsqueeze(1)
    for ours_enc, theirs in (("matching_encoder", "memory.motion_matching_encoder"),
                             ("context_encoder", "memory.motion_context_encoder")):
        torch.testing.assert_close(getattr(net.memory, ours_enc)(seq), mods[theirs](diff).squeeze(2))
    torch.save({"model": state}, tmp_path / "motion_model.pth")
    fresh = InstMoveNet(_cfg())
    load_instmove_weights(fresh, str(tmp_path / "motion_model.pth"))
    assert torch.equal(fresh.memory.bank, net.memory.bank)


def test_unknown_key_and_wrong_widths_fail_with_the_key_named(tmp_path):
    state, _ = official_state_dict()
    with pytest.raises(KeyError, match="memory.extra"):
        official_to_vidseg({**state, "memory.extra.weight": torch.zeros(1)})
    torch.save(state, tmp_path / "m.pth")
    with pytest.raises(ValueError, match="MODEL.INSTMOVE.WEIGHTS"):
        load_instmove_weights(InstMoveNet(reduced_cfg()), str(tmp_path / "m.pth"))
