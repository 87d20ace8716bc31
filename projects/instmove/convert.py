"""Import of the official InstMove checkpoint layout (``motion_model.pth``; paper 000 official code, module
``Predictor`` of ``model_withImgR6.py``) into :class:`~.model.InstMoveNet` names.

Official -> ours (``S`` = Sequential index):

- ``encoder.{0,2,4,6}`` -> ``mask_encoder.{0,2,4,6}`` (same indices)
- ``convlstm_list.{i}.conv2d_{x,h}`` -> ``convlstm.cells.{i}.conv_{x,h}``
- ``memory.motion_{context,matching}_encoder.{0,3,6,8,11,13}`` -> ``memory.{context,matching}_encoder.convs.{0..5}``
- ``memory.memory_w`` -> ``memory.bank``; ``memory.embedder.{0,2}`` -> same
- ``attention_func.{2,4}`` -> ``gate.fc{1,2}``
- ``decoder.layer_1.skip_conv`` / ``.out_conv.conv{1,2}`` -> ``decoder.fuse4.skip`` / ``.block.conv{1,2}``;
  ``decoder.layer_m.0`` -> ``decoder.up4``; ``decoder.layer_2.*`` -> ``decoder.fuse2.*``;
  ``decoder.layer_f.{0,2,4}`` -> ``decoder.head.{0,1,2}``
- ``encoder_img.body.{conv1,bn1,layer1,layer2}.*`` -> ``image_encoder.*``; ``layer3``/``layer4`` (unused by the
  network) and BatchNorm ``num_batches_tracked`` are dropped.

A ``module.`` prefix (DataParallel) is stripped. Our own checkpoints (``InstMovePredictor``: ``net.*``) are
accepted too by :func:`load_instmove_weights`.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from vidseg.checkpoint import load_state_dict_file
from vidseg.registry import CHECKPOINT_CONVERTER_REGISTRY, register_as

__all__ = ["convert_official_instmove", "is_official_instmove", "official_to_vidseg", "load_instmove_weights"]

_MOTION_CONV_INDEX = {0: 0, 3: 1, 6: 2, 8: 3, 11: 4, 13: 5}
_RULES: list[tuple[str, object]] = [
    (r"^encoder\.(\d+)\.(weight|bias)$", r"mask_encoder.\1.\2"),
    (r"^convlstm_list\.(\d+)\.conv2d_([xh])\.(weight|bias)$", r"convlstm.cells.\1.conv_\2.\3"),
    (r"^memory\.memory_w$", "memory.bank"),
    (r"^memory\.embedder\.(\d+)\.(weight|bias)$", r"memory.embedder.\1.\2"),
    (r"^attention_func\.2\.(weight|bias)$", r"gate.fc1.\1"),
    (r"^attention_func\.4\.(weight|bias)$", r"gate.fc2.\1"),
    (r"^decoder\.layer_1\.skip_conv\.(weight|bias)$", r"decoder.fuse4.skip.\1"),
    (r"^decoder\.layer_1\.out_conv\.(conv[12])\.(weight|bias)$", r"decoder.fuse4.block.\1.\2"),
    (r"^decoder\.layer_m\.0\.(weight|bias)$", r"decoder.up4.\1"),
    (r"^decoder\.layer_2\.skip_conv\.(weight|bias)$", r"decoder.fuse2.skip.\1"),
    (r"^decoder\.layer_2\.out_conv\.(conv[12])\.(weight|bias)$", r"decoder.fuse2.block.\1.\2"),
    (r"^encoder_img\.body\.((?:conv1|bn1|layer1|layer2)\..+)$", r"image_encoder.\1"),
]


def _motion_rule(m: re.Match) -> str:
    which, idx, kind = m.group(1), int(m.group(2)), m.group(3)
    if idx not in _MOTION_CONV_INDEX:
        raise KeyError(f"memory.motion_{which}_encoder.{idx}")
    return f"memory.{which}_encoder.convs.{_MOTION_CONV_INDEX[idx]}.{kind}"


_MOTION_RE = re.compile(r"^memory\.motion_(context|matching)_encoder\.(\d+)\.(weight|bias)$")
_HEAD_RE = re.compile(r"^decoder\.layer_f\.(\d+)\.(weight|bias)$")
_DROP_RE = re.compile(r"^encoder_img\.body\.(layer3|layer4|fc)\.|num_batches_tracked$")


def is_official_instmove(state: Mapping[str, object]) -> bool:
    return any(k.removeprefix("module.") == "memory.memory_w" for k in state)


def official_to_vidseg(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official-layout state dict; raises ``KeyError`` naming any key it cannot place."""
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        k = key.removeprefix("module.")
        if _DROP_RE.search(k):
            continue
        new = None
        m = _MOTION_RE.match(k)
        if m:
            new = _motion_rule(m)
        elif (m := _HEAD_RE.match(k)) and int(m.group(1)) in (0, 2, 4):
            new = f"decoder.head.{int(m.group(1)) // 2}.{m.group(2)}"
        else:
            for pattern, repl in _RULES:
                if re.match(pattern, k):
                    new = re.sub(pattern, repl, k)
                    break
        if new is None:
            unknown.append(key)
            continue
        out[new] = value
    if unknown:
        raise KeyError(f"official InstMove checkpoint: cannot map keys {unknown[:5]}" +
                       (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""))
    return out


def load_instmove_weights(net: torch.nn.Module, path: str, *, key: str = "MODEL.INSTMOVE.WEIGHTS") -> None:
    """Load ours (``net.*`` from ``InstMovePredictor`` or bare) or the official layout into ``net`` (strict,
    except that the context encoder q_φ, unused at test time, may be absent)."""
    state = load_state_dict_file(path, key=key)
    if is_official_instmove(state):
        state = official_to_vidseg(state)
    else:
        state = {k.removeprefix("module.").removeprefix("net."): v for k, v in state.items()}
    own = net.state_dict()
    wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
             if k in own and tuple(v.shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in state and not k.startswith("memory.context_encoder.")]
    unexpected = [k for k in state if k not in own]
    if wrong or missing or unexpected:
        raise ValueError(f"{key}: {path} does not fit the InstMove network of this config (shapes {wrong[:2]}, "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}); check the MODEL.INSTMOVE widths")
    net.load_state_dict(state, strict=False)


@register_as(CHECKPOINT_CONVERTER_REGISTRY, "instmove")
def convert_official_instmove(state: Mapping[str, torch.Tensor], model: torch.nn.Module | None = None
                              ) -> dict[str, torch.Tensor]:
    """``python -m vidseg.checkpoint.convert --from instmove motion_model.pth OUT``: the official layout renamed
    and placed under the ``InstMoveNet`` of ``model`` (default ``net.``, the ``InstMovePredictor`` layout, which
    ``MODEL.WEIGHTS`` and ``MODEL.INSTMOVE.WEIGHTS`` both read)."""
    from .model import InstMoveNet

    if not is_official_instmove(state):
        raise ValueError("not an official InstMove checkpoint (no 'memory.memory_w' key)")
    prefix = "net."
    if model is not None:
        found = [name for name, m in model.named_modules() if isinstance(m, InstMoveNet)]
        prefix = (found[0] + ".") if found and found[0] else ("" if found else prefix)
    return {prefix + k: v for k, v in official_to_vidseg(state).items()}
