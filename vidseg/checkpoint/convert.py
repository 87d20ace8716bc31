"""``python -m vidseg.checkpoint.convert --from mask2former|instmove|torchvision|timm IN OUT [--config-file CFG]``:
rename an official checkpoint to vidseg's key names, write ``OUT`` (``{"model": state}``, loadable as
``MODEL.WEIGHTS``) and report what happened to the keys.

The report lists input keys the converter dropped (classifier heads, derived buffers, ...) and, with
``--config-file``, the keys of that config's model left missing (they keep their initialisation), the converted
keys the model does not have (unexpected) and shape mismatches (e.g. a class head for another dataset). Without
a config the output uses the default layout (``backbone.``, ``pixel_decoder.``, ``predictor.``), which is the
layout of the Mask2Former-style models (IFR, Mask2Former-VIS).

Converters live in ``CHECKPOINT_CONVERTER_REGISTRY``; ``mask2former``, ``torchvision`` and ``timm`` are
registered by :mod:`vidseg.checkpoint.converters`, method packages register theirs (``instmove`` by ``projects/instmove``) and are found through
``vidseg.plugins``.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn

from vidseg.registry import CHECKPOINT_CONVERTER_REGISTRY

from .backbones import fit_relative_position_tables
from .io import load_state_dict_file

__all__ = ["ConversionReport", "available_converters", "convert_state_dict", "main"]


def available_converters() -> list[str]:
    """Registered converter names, after importing the installed method packages."""
    from vidseg.plugins import load_plugins

    load_plugins()
    return sorted(name for name, _ in CHECKPOINT_CONVERTER_REGISTRY)


@dataclass
class ConversionReport:
    converter: str
    num_in: int
    num_out: int
    dropped: list[str]
    missing: list[str] | None = None  # model keys not in the output (None: no model given)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple, tuple]] = field(default_factory=list)

    def lines(self, limit: int = 8) -> list[str]:
        def some(keys: Sequence) -> str:
            shown = ", ".join(str(k) for k in keys[:limit])
            return f" ({shown}{', ...' if len(keys) > limit else ''})" if keys else ""

        out = [f"{self.converter}: {self.num_in} tensors in, {self.num_out} converted, "
               f"{len(self.dropped)} dropped{some(self.dropped)}"]
        if self.missing is None:
            out.append("no --config-file: missing / unexpected keys not checked")
        else:
            out.append(f"missing in the checkpoint (model keeps its init): {len(self.missing)}{some(self.missing)}")
            out.append(f"unexpected (not in the model): {len(self.unexpected)}{some(self.unexpected)}")
            out.append(f"shape mismatch (skipped when loading): {len(self.shape_mismatch)}"
                       f"{some([f'{k} {a} vs model {b}' for k, a, b in self.shape_mismatch])}")
        return out


def convert_state_dict(name: str, state: Mapping[str, torch.Tensor], model: nn.Module | None = None
                       ) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Run converter ``name`` on ``state`` (into ``model`` when given) and report on the keys."""
    names = available_converters()
    if name not in names:
        raise ValueError(f"--from {name}: no such converter; registered: {', '.join(names)}")
    converter = CHECKPOINT_CONVERTER_REGISTRY.get(name)
    out = converter(dict(state), model)
    kept = {id(v) for v in out.values()}
    dropped = [k for k, v in state.items() if id(v) not in kept]
    report = ConversionReport(name, len(state), len(out), dropped)
    if model is not None:
        own = model.state_dict()
        out = fit_relative_position_tables(out, own)
        report.missing = [k for k in own if k not in out]
        report.unexpected = [k for k in out if k not in own]
        report.shape_mismatch = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in out.items()
                                 if k in own and tuple(v.shape) != tuple(own[k].shape)]
    return out, report


def _build_model(config_file: str, opts: Sequence[str]) -> nn.Module:
    from detectron2.modeling import build_model

    import vidseg  # noqa: F401  (registers meta-architectures, backbones and method packages)
    from vidseg.config import load_config

    cfg = load_config(config_file, ["MODEL.DEVICE", "cpu", *opts])
    return build_model(cfg)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vidseg.checkpoint.convert", description=__doc__.split("\n")[0])
    p.add_argument("--from", dest="source", required=True, help="converter: mask2former, instmove, torchvision, timm")
    p.add_argument("input", help="official checkpoint (.pth/.pt/.bin/.pkl/.safetensors)")
    p.add_argument("output", help="converted checkpoint to write (.pth)")
    p.add_argument("--config-file", help="check the keys against this config's model (and place them into it)")
    p.epilog = "Trailing KEY VALUE pairs override the config (with --config-file)."
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, opts = parser.parse_known_args(argv)
    if opts and (not args.config_file or any(o.startswith("--") for o in opts[::2]) or len(opts) % 2):
        parser.error(f"unrecognized arguments: {' '.join(opts)} (KEY VALUE pairs need --config-file)")
    args.opts = opts
    try:
        state = load_state_dict_file(args.input, key="IN")
        model = _build_model(args.config_file, args.opts) if args.config_file else None
        out, report = convert_state_dict(args.source, state, model)
        if not out:
            raise ValueError(f"{args.input}: the {args.source} converter kept no tensor")
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"error: {str(e).strip(chr(39))}", file=sys.stderr)
        return 2
    torch.save({"model": out, "__author__": f"vidseg.checkpoint.convert --from {args.source}"}, args.output)
    for line in report.lines():
        print(line)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
