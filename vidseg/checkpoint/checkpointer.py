"""``VidsegCheckpointer``: detectron2's ``DetectionCheckpointer`` that recognises external checkpoint layouts
(Mask2Former models, ImageNet Swin / ResNet backbones) and renames them to the model's own keys before loading.

Used for ``MODEL.WEIGHTS`` by ``VideoTrainer`` and ``train_net.py --eval-only``. vidseg's own checkpoints and
formats it does not recognise (e.g. detectron2 / Caffe2 model-zoo files) load exactly as with detectron2.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from torch import nn

from .atomic import atomic_torch_save, atomic_write_text, checkpoint_candidates, try_torch_load
from .backbones import (fit_relative_position_tables, is_d2_resnet, is_swin_state_dict, is_torchvision_resnet,
                        swin_to_vidseg, torchvision_resnet_to_d2)
from .io import load_state_dict_file, to_tensors
from .converters import trunk_prefix
from .mask2former import find_layout, is_mask2former_state_dict, mask2former_to_vidseg

__all__ = ["CheckpointError", "VidsegCheckpointer", "convert_to_vidseg", "detect_format"]

logger = logging.getLogger(__name__)

FORMATS = ("vidseg", "mask2former", "swin", "torchvision_resnet", "d2_resnet", "unknown")


def detect_format(state: Mapping[str, Any], model_keys: set[str]) -> str:
    """One of ``FORMATS`` for a flat state dict, given the keys of the model it is loaded into."""
    if is_mask2former_state_dict(state):
        return "mask2former"
    if state and len(model_keys.intersection(state)) >= 0.5 * len(state):
        return "vidseg"
    if is_swin_state_dict(state):
        return "swin"
    if is_torchvision_resnet(state):
        return "torchvision_resnet"
    if is_d2_resnet(state):
        return "d2_resnet"
    return "unknown"


def convert_to_vidseg(state: Mapping[str, Any], model: nn.Module) -> tuple[str, dict[str, Any]]:
    """(format, state dict renamed to ``model``'s keys). ``vidseg``/``unknown`` dicts come back unchanged."""
    own = model.state_dict()
    fmt = detect_format(state, set(own))
    if fmt in ("vidseg", "unknown"):
        return fmt, dict(state)
    state = to_tensors(state)
    trunk = trunk_prefix(model)  # the backbone, or its bottom_up network under an FPN
    if fmt == "mask2former":
        out = mask2former_to_vidseg(state, find_layout(model))
    elif fmt == "swin":
        out = {trunk + k: v for k, v in swin_to_vidseg(state).items()}
    elif fmt == "torchvision_resnet":
        out = {trunk + k: v for k, v in torchvision_resnet_to_d2(state).items()}
    else:  # d2_resnet: detectron2 names without the model prefix (e.g. detectron2's torchvision R-50.pkl, whose
        # converter turned the classifier into ``stem.fc.*``)
        out = {trunk + k: v for k, v in state.items() if not k.startswith("stem.fc.")}
    return fmt, fit_relative_position_tables(out, own)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or that does not fit the model (one line naming the file)."""


class VidsegCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` + layout conversion of external checkpoints (see ``convert_to_vidseg``).

    ``.safetensors`` files are read too. A converted checkpoint is loaded by exact names (no detectron2 matching
    heuristics); shape mismatches (e.g. a class head of another dataset) are skipped and reported by detectron2.

    Reliability (issue 15): ``save`` writes atomically (temporary file + ``os.replace``; ``last_checkpoint`` is
    updated only after the file is complete) and refuses weights with NaN/Inf; ``resume_or_load`` falls back to
    the newest loadable checkpoint with a warning; with ``max_unloaded`` set, a checkpoint that leaves more than
    that fraction of the model's elements unloaded (missing or of another shape) raises ``CheckpointError``
    (keys in the model's ``preloaded_keys``, loaded at build from other files, do not count as missing).
    """

    max_unloaded: float | None = None  # None: no check (backbone-only weights for training)
    check_formats: tuple[str, ...] = FORMATS  # formats the ``max_unloaded`` check applies to
    refuse_saving: str = ""  # non-empty: ``save`` only logs this reason (set when training stopped with an error)
    resumed_from: str = ""  # the file ``resume_or_load`` resumed from ("" when it did not resume)

    # ---- saving
    def save(self, name: str, **kwargs: Any) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        if self.refuse_saving:
            logger.warning("not saving %s.pth: %s", name, self.refuse_saving)
            return
        state = self.model.state_dict()
        bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            logger.error("not saving %s.pth: %d weight tensors hold NaN/Inf (first: %s); last_checkpoint still names "
                         "the last finite checkpoint", name, len(bad), bad[0])
            return
        data: dict[str, Any] = {"model": state}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        logger.info("Saving checkpoint to %s", save_file)
        atomic_torch_save(data, save_file)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        atomic_write_text(os.path.join(self.save_dir, "last_checkpoint"), last_filename_basename)

    # ---- resuming
    def _tagged_checkpoint(self) -> str | None:
        path = os.path.join(self.save_dir, "last_checkpoint")
        if not os.path.isfile(path):
            return None
        with open(path) as f:
            name = f.read().strip()
        if not name:
            logger.warning("%s is empty; looking for another checkpoint in %s", path, self.save_dir)
        return name or None

    def find_resumable(self) -> str | None:
        """The newest checkpoint of ``save_dir`` that loads (see ``checkpoint_candidates``), warning about each
        one skipped; None when there is none."""
        tagged = self._tagged_checkpoint()
        for path in checkpoint_candidates(self.save_dir, tagged):
            _, problem = try_torch_load(path)
            if problem is None:
                if tagged and os.path.basename(path) != tagged:
                    logger.warning("resuming from %s instead of %s (named by last_checkpoint)", path, tagged)
                return path
            logger.warning("%s: %s; trying an older checkpoint", path, problem)
        return None

    def resume_or_load(self, path: str, *, resume: bool = True) -> dict[str, Any]:
        self.resumed_from = ""
        if resume:
            found = self.find_resumable() if os.path.isdir(self.save_dir or "") else None
            if found:
                self.resumed_from = found
                return self.load(found)
            if self.has_checkpoint():
                logger.warning("%s: no loadable checkpoint; starting from MODEL.WEIGHTS", self.save_dir)
        return self.load(path, checkpointables=[])

    # ---- loading
    def load(self, path: str, checkpointables: list[str] | None = None) -> dict[str, Any]:
        if path and not path.startswith(("http://", "https://")) and "://" not in path:
            local = path.split("?")[0]
            if not os.path.isfile(local):
                raise CheckpointError(f"{local}: checkpoint file not found")
            if os.path.getsize(local) == 0:
                raise CheckpointError(f"{local}: checkpoint file is empty (0 bytes; expected a .pth/.pkl/"
                                      ".safetensors file written by torch.save, pickle or safetensors)")
        try:
            return super().load(path, checkpointables=checkpointables)
        finally:  # DetectionCheckpointer asserts this is None at the next load, also after a failed one
            self._parsed_url_during_load = None

    def _load_file(self, filename: str) -> dict[str, Any]:
        try:
            loaded = self._read_file(filename)
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001  (a text file, a truncated zip, ...: one line naming the file)
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise CheckpointError(f"{filename}: not a readable checkpoint ({type(e).__name__}: {msg}; expected a "
                                  ".pth/.pkl/.safetensors file written by torch.save, pickle or safetensors)") from e
        if not isinstance(loaded, Mapping):
            raise CheckpointError(f"{filename}: not a checkpoint (holds a {type(loaded).__name__}, expected a dict "
                                  "of tensors, possibly under 'model')")
        return loaded

    def _load_model(self, checkpoint: Any):
        fmt = checkpoint.get("__vidseg_format__", "vidseg")
        checkpoint.pop("__vidseg_format__", None)
        incompatible = super()._load_model(checkpoint)
        if self.max_unloaded is not None and fmt in self.check_formats:
            self._check_unloaded(incompatible)
        return incompatible

    def _check_unloaded(self, incompatible) -> None:
        own = self.model.state_dict()
        total = sum(v.numel() for v in own.values()) or 1
        # keys a model loaded at build time from its own config keys (e.g. moseg's stage checkpoints)
        pre = set(getattr(getattr(self.model, "module", self.model), "preloaded_keys", ()))
        missing = [k for k in incompatible.missing_keys if k in own and k not in pre]
        shapes = [k for k, _, _ in incompatible.incorrect_shapes if k in own]
        unloaded = sum(own[k].numel() for k in set(missing) | set(shapes))
        if unloaded / total > float(self.max_unloaded):
            first = (shapes or missing)[0]
            raise CheckpointError(
                f"{self._loading}: leaves {unloaded / total:.1%} of the model's weights unloaded ({len(missing)} "
                f"missing, {len(shapes)} of another shape, e.g. {first}); expected a checkpoint of this "
                f"architecture and MODEL.NUM_CLASSES (set MODEL.WEIGHTS_MAX_UNLOADED to allow more, e.g. for "
                f"fine-tuning; now {self.max_unloaded})")

    def _read_file(self, filename: str) -> dict[str, Any]:
        self._loading = filename
        if filename.endswith(".safetensors"):
            loaded: dict[str, Any] = {"model": load_state_dict_file(filename)}
        else:
            loaded = super()._load_file(filename)
        state = loaded.get("model") if isinstance(loaded, Mapping) else None
        if not isinstance(state, Mapping) or not any(isinstance(v, (torch.Tensor, np.ndarray)) for v in state.values()):
            return loaded
        fmt, converted = convert_to_vidseg(state, self.model)
        loaded["__vidseg_format__"] = fmt
        if fmt in ("vidseg", "unknown"):
            return loaded
        logger.info("%s: %s checkpoint converted to vidseg names (%d tensors)", filename, fmt, len(converted))
        loaded = {k: v for k, v in loaded.items() if k != "matching_heuristics"}
        loaded["model"] = converted
        loaded["__author__"] = f"vidseg-converted-{fmt}"
        loaded["__vidseg_format__"] = fmt
        return loaded
