"""Parameter counts of a config's model: ``python -m vidseg.tools.model_stats --config-file X.yaml [KEY VALUE ...]``.

Builds the model on the CPU with random weights (nothing is loaded or downloaded) and prints total and trainable
parameters per top-level module and for the whole model. A parameter shared by two modules is counted once, in
the first module that holds it. ``--json`` prints the same numbers as one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from torch import nn

__all__ = ["ParamCount", "count_parameters", "format_table", "main"]


@dataclass(frozen=True)
class ParamCount:
    total: int
    trainable: int


def count_parameters(model: nn.Module) -> dict[str, ParamCount]:
    """{top-level child name: counts} plus ``"(direct)"`` for parameters held by ``model`` itself (if any) and
    ``"total"`` for the whole model; every parameter tensor counted once."""
    seen: set[int] = set()
    rows: dict[str, ParamCount] = {}

    def tally(params) -> ParamCount:
        total = trainable = 0
        for p in params:
            if id(p) in seen:
                continue
            seen.add(id(p))
            total += p.numel()
            trainable += p.numel() if p.requires_grad else 0
        return ParamCount(total, trainable)

    direct = tally(model.parameters(recurse=False))
    for name, child in model.named_children():
        rows[name] = tally(child.parameters())
    if direct.total:
        rows["(direct)"] = direct
    rows["total"] = ParamCount(sum(r.total for r in rows.values()), sum(r.trainable for r in rows.values()))
    return rows


def format_table(rows: dict[str, ParamCount], title: str) -> str:
    width = max(len(n) for n in rows) + 2
    lines = [title, f"{'module':<{width}}{'total':>14}{'trainable':>14}{'total (M)':>12}"]
    for name, r in rows.items():
        if name == "total":
            lines.append("-" * (width + 40))
        lines.append(f"{name:<{width}}{r.total:>14,}{r.trainable:>14,}{r.total / 1e6:>12.2f}")
    return "\n".join(lines)


def build_model_cpu(config_file: str, opts: list[str]) -> nn.Module:
    """The config's ``META_ARCHITECTURE`` built on the CPU; ``MODEL.WEIGHTS`` is not loaded."""
    from detectron2.modeling import build_model

    import vidseg.data  # noqa: F401  (dataset metadata some models read)
    import vidseg.modeling  # noqa: F401  (backbone / pixel decoder / meta-arch registration)
    from vidseg.config import load_config

    cfg = load_config(config_file, list(opts) + ["MODEL.DEVICE", "cpu"])
    cfg.freeze()
    return build_model(cfg)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidseg.tools.model_stats", description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True, help="yaml config (its _BASE_ chain is followed)")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides as KEY VALUE pairs")
    args = parser.parse_args(argv)
    from vidseg.config import ConfigError

    try:
        model = build_model_cpu(args.config_file, args.opts)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = count_parameters(model)
    if args.json:
        print(json.dumps({"config": args.config_file, "model": type(model).__name__,
                          "params": {k: asdict(v) for k, v in rows.items()}}))
    else:
        print(format_table(rows, f"{args.config_file}: {type(model).__name__}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
