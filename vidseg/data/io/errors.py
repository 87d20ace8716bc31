"""The one exception type raised for a missing or malformed dataset file."""
from __future__ import annotations

from pathlib import Path

README_HINT = "see datasets/README.md; root = $DETECTRON2_DATASETS, default datasets/"


class DatasetFormatError(ValueError):
    """A dataset file or folder is missing or does not follow the expected format.

    The message is one line naming the offending path and what was expected.
    """

    def __init__(self, path: str | Path, problem: str | None = None, *, expected: str | None = None) -> None:
        self.path = str(path)
        if problem is None:  # a ready message, e.g. when a DataLoader worker re-raises the error in the parent
            super().__init__(self.path)
            return
        msg = f"{self.path}: {problem}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg.replace("\n", " "))


def require_exists(path: str | Path, *, what: str, layout: str | None = None) -> Path:
    """Return ``Path(path)`` or raise :class:`DatasetFormatError` naming it and the expected layout."""
    p = Path(path)
    if not p.exists():
        expected = f"{layout}; {README_HINT}" if layout else README_HINT
        raise DatasetFormatError(p, f"{what} not found", expected=expected)
    return p
