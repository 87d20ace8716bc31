"""Giving freed heap memory back to the operating system during long-video inference (issue 13 item 4).

glibc's allocator keeps freed blocks in its heap. Window-by-window inference frees a window's large temporary
tensors while small long-lived objects (the finished frames' RLE strings) are allocated between them, so the freed
space cannot be returned by shrinking the heap top and the resident set grows with the video length although the
live memory does not (measured in ``benchmarks/RESULTS.md``, "Long videos (IFR)"). ``malloc_trim(0)`` also releases
the whole free pages *inside* the heap (``madvise``), which keeps the resident set flat. Elsewhere (no glibc) this
is a no-op.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["release_free_heap", "resident_mib"]


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        fn = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def release_free_heap() -> bool:
    """Return the allocator's free pages to the OS (glibc ``malloc_trim(0)``); True if glibc released memory."""
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False


def resident_mib() -> float:
    """Current resident set size of this process in MiB (Linux ``/proc``; 0.0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0
