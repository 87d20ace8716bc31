"""Crash-safe checkpoint files: every write goes to a temporary file in the same folder, is flushed to disk and then
renamed over the target (``os.replace`` is atomic), so a kill at any moment leaves either the old or the new file,
never a truncated one. On resume, the newest checkpoint that actually loads is picked (``checkpoint_candidates``).
"""
from __future__ import annotations

import logging
import os
import re
from typing import Any, Callable, IO

import torch

__all__ = ["atomic_write", "atomic_torch_save", "atomic_write_text", "checkpoint_candidates", "try_torch_load"]

logger = logging.getLogger(__name__)

_ITER_RE = re.compile(r"^model_(\d+)\.pth$")


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a temporary file next to ``path``, fsync it, then rename it to ``path``.

    On any exception (including a kill simulated as an exception half-way through ``write``) the temporary file is
    removed and ``path`` is left exactly as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(path: str, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def try_torch_load(path: str) -> tuple[Any, str | None]:
    """(loaded object, None) or (None, one-line reason) for a checkpoint file that is missing/empty/truncated."""
    if not os.path.isfile(path):
        return None, "file not found"
    if os.path.getsize(path) == 0:
        return None, "file is empty (0 bytes)"
    try:
        return torch.load(path, map_location="cpu", weights_only=False), None
    except Exception as e:  # noqa: BLE001  (truncated zip, pickle errors, EOF: all mean "not loadable")
        return None, f"not loadable ({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''})"


def checkpoint_candidates(save_dir: str, tagged: str | None) -> list[str]:
    """Checkpoint files of ``save_dir`` to try on resume, best first: the one ``last_checkpoint`` names, then
    ``model_final.pth``, then ``model_<iter>.pth`` by decreasing iteration."""
    if not os.path.isdir(save_dir):
        return []
    names = os.listdir(save_dir)
    numbered = sorted((n for n in names if _ITER_RE.match(n)), key=lambda n: -int(_ITER_RE.match(n).group(1)))
    order = ([tagged] if tagged else []) + (["model_final.pth"] if "model_final.pth" in names else []) + numbered
    out: list[str] = []
    for n in order:
        p = os.path.join(save_dir, n)
        if p not in out and os.path.isfile(p):
            out.append(p)
    return out
