"""Bit-exact resume: the random states of python, numpy and torch travel in every checkpoint.

``RngState`` is a checkpointable (``checkpointer.add_checkpointable("rng", RngState())``). Only rank 0 writes
checkpoints, so the ``RngSnapshot`` hook (registered on every rank, before the checkpointer hook) gathers the
states of all ranks at the iterations where a checkpoint is written; ``load_state_dict`` gives each rank its own
state back when the world size is unchanged (otherwise the states are left as seeded, with a warning). The data
sampler position is restored by the trainer (``MixedDatasetSampler.skip``).
"""
from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import torch
from detectron2.engine import HookBase
from detectron2.utils import comm

__all__ = ["RngState", "RngSnapshot", "capture_rng", "restore_rng"]

logger = logging.getLogger(__name__)


def capture_rng() -> dict[str, Any]:
    """This process's python / numpy / torch (CPU and CUDA) generator states, as tensors and plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RngState:
    """Checkpointable holding the generator states of every rank (``snapshot``) or, without one, this rank's, and
    the seed of the train sampler (``SEED: -1`` draws a new one per run)."""

    def __init__(self, sampler: Any = None) -> None:
        self.snapshot: list[dict[str, Any]] | None = None
        self.sampler = sampler

    def state_dict(self) -> dict[str, Any]:
        states = self.snapshot if self.snapshot is not None else [capture_rng()]
        out: dict[str, Any] = {"world_size": len(states), "states": states}
        if hasattr(self.sampler, "seed"):
            out["sampler_seed"] = int(self.sampler.seed)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "sampler_seed" in state and hasattr(self.sampler, "seed"):
            self.sampler.seed = int(state["sampler_seed"])
        world = comm.get_world_size()
        if state.get("world_size") != world:
            logger.warning("checkpoint holds the random states of %s ranks, this run has %d: random states left as "
                           "seeded, so the resumed run is not bit-identical to an uninterrupted one",
                           state.get("world_size"), world)
            return
        restore_rng(state["states"][comm.get_rank()])


class RngSnapshot(HookBase):
    """Gathers every rank's random states at the iterations where ``PeriodicCheckpointer`` saves (run it right
    before that hook, on every rank, since the gather is collective)."""

    def __init__(self, rng: RngState, period: int, max_iter: int) -> None:
        self.rng, self.period, self.max_iter = rng, int(period), int(max_iter)

    def after_step(self) -> None:
        it = self.trainer.iter + 1
        if comm.get_world_size() > 1 and ((self.period > 0 and it % self.period == 0) or it >= self.max_iter):
            self.rng.snapshot = comm.all_gather(capture_rng())
