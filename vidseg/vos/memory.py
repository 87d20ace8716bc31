"""``MemoryBank``: the bounded memory of a streaming VOS engine (paper 004 §3; STCN/XMem style FIFO).

Entries hold one frame's key (C_k×h×w) and its values for the objects that existed then (K_e×C_v×h×w). The bank
keeps at most ``max_size`` entries: pushing past it evicts the oldest non-pinned entry (pinned: the first frame,
annotated frames), so memory is bounded whatever the video length. Reading gives the stacked keys (1, C_k, T, h,
w) and values (1, K, C_v, T, h, w) for the current object list, zeros where an object did not exist yet.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MemoryEntry:
    frame: int
    key: torch.Tensor  # (C_k, h, w)
    value: torch.Tensor  # (K_e, C_v, h, w)
    object_ids: list[int]
    pinned: bool = False


class MemoryBank:
    """FIFO of :class:`MemoryEntry` with pinned entries; see the module docstring."""

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError(f"MemoryBank: max_size must be >= 1, got {max_size}")
        self.max_size = int(max_size)
        self.entries: list[MemoryEntry] = []
        self._stacked: tuple | None = None

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def frames(self) -> list[int]:
        return [e.frame for e in self.entries]

    def push(self, frame: int, key: torch.Tensor, value: torch.Tensor, object_ids: list[int], *,
             pinned: bool = False) -> None:
        if value.shape[0] != len(object_ids):
            raise ValueError(f"MemoryBank.push: {value.shape[0]} value rows for {len(object_ids)} objects")
        self.entries.append(MemoryEntry(frame, key.detach(), value.detach(), list(object_ids), pinned))
        while len(self.entries) > self.max_size:
            victim = next((i for i, e in enumerate(self.entries) if not e.pinned), None)
            if victim is None:  # everything pinned: keep the first frame, drop the oldest other pinned entry
                victim = 1 if len(self.entries) > 1 else 0
            del self.entries[victim]
        self._stacked = None

    def remove_objects(self, object_ids: list[int]) -> None:
        gone = set(int(i) for i in object_ids)
        for e in self.entries:
            keep = [j for j, i in enumerate(e.object_ids) if i not in gone]
            e.value = e.value[keep]
            e.object_ids = [e.object_ids[j] for j in keep]
        self._stacked = None

    def read(self, object_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys (1, C_k, T, h, w) and values (1, K, C_v, T, h, w) of ``object_ids`` (zeros where absent)."""
        if not self.entries:
            raise ValueError("MemoryBank.read: the memory is empty")
        ids = tuple(int(i) for i in object_ids)
        if self._stacked is not None and self._stacked[0] == ids:
            return self._stacked[1], self._stacked[2]
        keys = torch.stack([e.key for e in self.entries], 1)[None]
        ref = self.entries[0].key
        c_v, hw = self.entries[0].value.shape[1], ref.shape[-2:]
        values = torch.zeros((len(ids), c_v, len(self.entries), *hw), dtype=ref.dtype, device=ref.device)
        row = {i: k for k, i in enumerate(ids)}
        for t, e in enumerate(self.entries):
            for j, i in enumerate(e.object_ids):
                if i in row:
                    values[row[i], :, t] = e.value[j]
        self._stacked = (ids, keys, values[None])
        return keys, values[None]
