"""Shared helpers of the reliability tests (issue 15): the tiny baseline config run through ``train_net.main``."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import train_net

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "configs" / "tests" / "baseline.yaml")
NO_EVAL = ["DATASETS.TEST", "()"]


def args(*extra: str, opts=(), config: str = TINY):
    return train_net.argument_parser().parse_args(["--config-file", config, *extra, *map(str, opts)])


def exit_line(capsys, parsed) -> str:
    """Run ``train_net.main``; it must exit with code 2 and print one ``error: ...`` line on stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        train_net.main(parsed)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error: "), err
    return err[-1]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """{name: (bytes, mtime_ns)} of every file below ``folder``: "files untouched" compares two snapshots."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


class TinyNet(torch.nn.Module):
    def __init__(self, out: int = 3) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.head = torch.nn.Linear(4, out)
