"""Code and configs cite papers by number and section, or in-repository docs — never files outside the repository
(issue 9); masks and IoU live in one module."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = [ROOT / "vidseg", ROOT / "projects", ROOT / "configs", ROOT / "train_net.py", ROOT / "benchmarks",
           ROOT / "tools", ROOT / "demo"]
# spec files, the first design document, and the papers folder live outside the repository
OUTSIDE = re.compile(r"specs/|\b(?:ifr|moseg|isvos|instmove|instflow)\.md\b|ARCHITECTURE(?:\.md| §)|papers/0\d\d")


def source_files():
    for base in SCANNED:
        files = [base] if base.is_file() else sorted(base.rglob("*")) if base.exists() else []
        yield from (f for f in files if f.suffix in {".py", ".yaml", ".sh", ".cpp", ".cu", ".h"})


def test_no_reference_to_files_outside_the_repository():
    hits = [f"{f.relative_to(ROOT)}:{i}: {line.strip()}" for f in source_files()
            for i, line in enumerate(f.read_text(errors="replace").splitlines(), 1) if OUTSIDE.search(line)]
    assert not hits, "cite 'paper 00N §x' or docs/architecture.md instead:\n" + "\n".join(hits)


def test_pycocotools_iou_is_called_only_by_the_masks_module():
    pattern = re.compile(r"\b(?:mask_util|maskUtils|mask_utils)\.iou\(")
    hits = [str(f.relative_to(ROOT)) for base in (ROOT / "vidseg", ROOT / "projects") for f in base.rglob("*.py")
            if pattern.search(f.read_text())]
    assert hits == ["vidseg/structures/masks.py"]
