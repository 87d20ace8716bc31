"""``vidseg.utils.memory`` and the packed RLEs long-video inference holds (issue 13 item 4)."""
from __future__ import annotations

import ctypes.util
import sys

import numpy as np
import pytest

from vidseg.structures.masks import decode_mask, encode_mask, pack_rle, unpack_rle
from vidseg.utils.memory import release_free_heap, resident_mib

GLIBC = sys.platform.startswith("linux") and ctypes.util.find_library("c") is not None


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_release_free_heap_gives_back_freed_blocks_pinned_inside_the_heap():
    # 64 KiB blocks come from the heap (below the mmap threshold); every 16th one stays alive, so the freed ones sit
    # between live blocks where glibc's automatic trimming (top of the heap only) cannot return them
    blocks = [bytearray(b"x" * (64 << 10)) for _ in range(2400)]  # 150 MiB, pages touched
    kept = blocks[::16]
    del blocks
    before = resident_mib()
    assert release_free_heap()
    after = resident_mib()
    assert before - after > 80, (before, after)  # ≈ 140 MiB were free inside the heap
    assert all(b[-1] == ord("x") for b in kept)  # live blocks are untouched


def test_packed_rle_round_trip_is_exact_and_smaller():
    rng = np.random.default_rng(0)
    noisy = np.kron(rng.random((45, 80)) > 0.5, np.ones((8, 8), bool))  # blobby noise like random-weight masks
    for mask in (noisy, np.zeros((7, 5), bool), np.ones((3, 4), bool)):
        rle = encode_mask(mask)
        packed = pack_rle(rle)
        assert unpack_rle(packed) == rle
        assert np.array_equal(decode_mask(unpack_rle(packed)), mask)
    assert len(pack_rle(encode_mask(noisy))[2]) < 0.8 * len(encode_mask(noisy)["counts"])
