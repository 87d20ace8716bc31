"""``python -m vidseg.checkpoint.convert --from instmove``: a random state dict in the official layout (keys written
from the mapping documented in ``projects/instmove/convert.py``, inverted by hand) into the tiny InstMove model."""
from __future__ import annotations

import os
import re

import torch

from vidseg.checkpoint.convert import _build_model, convert_state_dict

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")
MOTION_INDEX = {0: 0, 1: 3, 2: 6, 3: 8, 4: 11, 5: 13}  # our conv k -> official Sequential index
INVERSE = [
    (r"^mask_encoder\.(.+)$", r"encoder.\1"),
    (r"^convlstm\.cells\.(\d+)\.conv_([xh])\.(.+)$", r"convlstm_list.\1.conv2d_\2.\3"),
    (r"^memory\.bank$", "memory.memory_w"),
    (r"^gate\.fc1\.(.+)$", r"attention_func.2.\1"),
    (r"^gate\.fc2\.(.+)$", r"attention_func.4.\1"),
    (r"^decoder\.fuse(4|2)\.skip\.(.+)$", lambda m: f"decoder.layer_{1 if m[1] == '4' else 2}.skip_conv.{m[2]}"),
    (r"^decoder\.fuse(4|2)\.block\.(conv[12])\.(.+)$",
     lambda m: f"decoder.layer_{1 if m[1] == '4' else 2}.out_conv.{m[2]}.{m[3]}"),
    (r"^decoder\.up4\.(.+)$", r"decoder.layer_m.0.\1"),
    (r"^decoder\.head\.(\d)\.(.+)$", lambda m: f"decoder.layer_f.{2 * int(m[1])}.{m[2]}"),
    (r"^memory\.(context|matching)_encoder\.convs\.(\d)\.(.+)$",
     lambda m: f"memory.motion_{m[1]}_encoder.{MOTION_INDEX[int(m[2])]}.{m[3]}"),
    (r"^image_encoder\.(.+)$", r"encoder_img.body.\1"),
    (r"^(memory\.embedder\..+)$", r"\1"),
]


def to_official(key: str) -> str:
    for pattern, repl in INVERSE:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    raise AssertionError(f"no official name for {key}")


def test_official_layout_into_the_tiny_instmove_model():
    model = _build_model(os.path.join(ROOT, "configs", "tests", "instmove.yaml"), [])
    ours = {k[len("net."):]: v for k, v in model.state_dict().items() if k.startswith("net.")}
    g = torch.Generator().manual_seed(0)
    official = {"module." + to_official(k): torch.randn(v.shape, generator=g) if v.is_floating_point() else v
                for k, v in ours.items() if not k.endswith("num_batches_tracked")}
    official["module.encoder_img.body.layer3.0.conv1.weight"] = torch.zeros(1)  # unused by the network: dropped
    out, report = convert_state_dict("instmove", official, model)
    assert report.dropped == ["module.encoder_img.body.layer3.0.conv1.weight"]
    assert not report.unexpected and not report.shape_mismatch
    assert all(k.endswith("num_batches_tracked") for k in report.missing)
    torch.testing.assert_close(out["net.memory.bank"], official["module.memory.memory_w"])
    torch.testing.assert_close(out["net.decoder.head.2.weight"], official["module.decoder.layer_f.4.weight"])
