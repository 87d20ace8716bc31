"""``python -m vidseg.tools.model_stats``: counts per top-level module, shared parameters once, CLI output."""
import json
import os
import subprocess
import sys

import torch
from torch import nn

import projects.ifr  # noqa: F401  (IFR meta-architecture and MODEL.IFR keys)
from vidseg.tools.model_stats import build_model_cpu, count_parameters, format_table, main

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TINY = os.path.join(ROOT, "configs", "tests", "ifr.yaml")


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 4)  # 16
        self.b = nn.Linear(4, 2)  # 10, frozen
        self.c = nn.Linear(3, 4)
        self.c.weight = self.a.weight  # shared weight: counted in ``a`` only, ``c`` keeps its bias (4)
        self.scale = nn.Parameter(torch.ones(5))  # held by the root
        for p in self.b.parameters():
            p.requires_grad_(False)


def test_counts_by_hand():
    rows = count_parameters(Toy())
    assert {k: (r.total, r.trainable) for k, r in rows.items()} == {
        "a": (16, 16), "b": (10, 0), "c": (4, 4), "(direct)": (5, 5), "total": (35, 25)}
    table = format_table(rows, "toy")
    assert table.splitlines()[0] == "toy" and "35" in table.splitlines()[-1]


def test_cli_totals_match_the_built_model(capsys):
    assert main(["--config-file", TINY, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    model = build_model_cpu(TINY, [])
    assert report["model"] == "IFR"
    assert report["params"]["total"]["total"] == sum(p.numel() for p in model.parameters())
    for name, child in model.named_children():
        assert report["params"][name]["total"] == sum(p.numel() for p in child.parameters())
    assert main(["--config-file", TINY, "MODEL.IFR.NUM_QUERIES", "16"]) == 0
    out = capsys.readouterr().out
    assert "predictor" in out and "backbone" in out and out.splitlines()[-1].startswith("total")


def test_config_errors_exit_with_a_message(capsys):
    assert main(["--config-file", TINY, "MODEL.NO_SUCH_KEY", "1"]) == 2
    assert "NO_SUCH_KEY" in capsys.readouterr().err


def test_runs_as_a_module():
    """The documented command (the ifr project is found through its ``vidseg.projects`` entry point)."""
    proc = subprocess.run([sys.executable, "-m", "vidseg.tools.model_stats", "--config-file", TINY],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1].startswith("total")
