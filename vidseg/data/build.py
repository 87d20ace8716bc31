"""Data loaders: the multi-dataset video train loader (ratios) and the per-video test loader.

Train: one mapper per ``DATASETS.TRAIN`` entry (``DATASETS.TRAIN_MAPPERS`` or ``INPUT.MAPPER.TRAIN``), datasets
mixed by ``DATASETS.TRAIN_RATIOS`` with a seeded infinite sampler sharded over ranks, batches of
``SOLVER.IMS_PER_BATCH // world_size`` clips (a list of clip dicts). Test: the named dataset, one video per
batch, ``INPUT.MAPPER.TEST``, detectron2's ``InferenceSampler``.
"""
from __future__ import annotations

import bisect
import itertools
import logging
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog
from detectron2.data.build import trivial_batch_collator, worker_init_reset_seed
from detectron2.data.common import DatasetFromList
from detectron2.data.samplers import InferenceSampler
from detectron2.utils import comm
from torch.utils.data import DataLoader, Dataset, Sampler

import vidseg.data.mappers  # noqa: F401  (registers the mappers)
from vidseg.data.io.errors import DatasetFormatError
from vidseg.data.validate import check_records
from vidseg.registry import MAPPER_REGISTRY

logger = logging.getLogger(__name__)
Mapper = Callable[[dict], "dict | None"]
MAX_MAPPER_RETRIES = 100


class MixedDatasetSampler(Sampler[int]):
    """Infinite stream of indices into the concatenation of several datasets, sharded over ranks.

    ``ratios`` empty/None: epochs of random permutations of all items (datasets in proportion to size).
    Otherwise each draw picks dataset d with probability ``ratios[d] / sum(ratios)``, then an item of d
    uniformly. The global stream depends only on ``seed``; rank r yields its items r, r + W, r + 2W, ...
    ``skip(n)`` makes the next iterator start after this rank's first n items (resume at the same position).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        ratios: Sequence[float] | None = None,
        *,
        seed: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        chunk: int = 4096,
    ) -> None:
        if not sizes or any(s <= 0 for s in sizes):
            raise ValueError(f"MixedDatasetSampler: every dataset needs >= 1 record, got sizes {list(sizes)}")
        if ratios:
            if len(ratios) != len(sizes) or any(r < 0 for r in ratios) or sum(ratios) <= 0:
                raise ValueError(
                    f"DATASETS.TRAIN_RATIOS={tuple(ratios)}: expected {len(sizes)} non-negative values "
                    "(one per DATASETS.TRAIN entry) with a positive sum"
                )
        self.sizes = [int(s) for s in sizes]
        self.offsets = [0, *itertools.accumulate(self.sizes)]
        self.ratios = torch.tensor([float(r) for r in ratios], dtype=torch.float64) if ratios else None
        self.seed = int(comm.shared_random_seed() if seed is None else seed)
        self.rank = comm.get_rank() if rank is None else int(rank)
        self.world_size = comm.get_world_size() if world_size is None else int(world_size)
        self.chunk = int(chunk)
        self.start = 0

    def skip(self, n: int) -> None:
        """Start the next iteration after this rank's first ``n`` items (``n`` = iterations done x batch size)."""
        self.start = int(n)

    def __iter__(self) -> Iterator[int]:
        first = self.rank + self.start * self.world_size
        yield from itertools.islice(self._global_indices(), first, None, self.world_size)

    def _global_indices(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed)
        total = self.offsets[-1]
        sizes = torch.tensor(self.sizes, dtype=torch.float64)
        offsets = torch.tensor(self.offsets[:-1], dtype=torch.long)
        while True:
            if self.ratios is None:
                yield from torch.randperm(total, generator=g).tolist()
                continue
            ds = torch.multinomial(self.ratios, self.chunk, replacement=True, generator=g)
            within = (torch.rand(self.chunk, generator=g, dtype=torch.float64) * sizes[ds]).long()
            yield from (offsets[ds] + within).tolist()


class MappedVideoDataset(Dataset):
    """Concatenated record lists, each mapped by its own mapper; adds ``dataset_name`` to each record.

    With ``retry_none`` a mapper returning ``None`` (e.g. an empty clip) is retried on a random record of the
    same dataset (``np.random``, seeded per worker), at most ``MAX_MAPPER_RETRIES`` times in a row.
    """

    def __init__(
        self, datasets: Sequence[list[dict]], mappers: Sequence[Mapper], names: Sequence[str], *, retry_none: bool
    ) -> None:
        self.datasets = [DatasetFromList(list(d), copy=False, serialize=True) for d in datasets]
        self.mappers = list(mappers)
        self.names = list(names)
        self.offsets = [0, *itertools.accumulate(len(d) for d in self.datasets)]
        self.retry_none = retry_none

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, idx: int) -> dict:
        d = bisect.bisect_right(self.offsets, idx) - 1
        local = idx - self.offsets[d]
        for _ in range(MAX_MAPPER_RETRIES):
            out = self.mappers[d]({**self.datasets[d][local], "dataset_name": self.names[d]})
            if out is not None:
                return out
            if not self.retry_none:
                break
            local = int(np.random.randint(len(self.datasets[d])))
        what = f"{MAX_MAPPER_RETRIES} times in a row" if self.retry_none else f"for record {local}"
        raise RuntimeError(
            f"dataset {self.names[d]!r}: mapper {type(self.mappers[d]).__name__} returned None {what} "
            "(expected a model-input dict; check INPUT.CLIP.SKIP_EMPTY and the annotations)"
        )


def load_records(name: str, *, training: bool = False) -> list[dict]:
    """``DatasetCatalog.get(name)`` with a one-line error for an unknown or empty dataset, checked by
    ``check_records`` (videos without frames, sampled frame sizes, a training split without objects)."""
    if name not in DatasetCatalog.list():
        raise ValueError(f"dataset {name!r} is not registered (known: {', '.join(sorted(DatasetCatalog.list()))})")
    records = DatasetCatalog.get(name)
    if not records:
        raise DatasetFormatError(f"dataset {name!r}", "has no records",
                                 expected="its files under $DETECTRON2_DATASETS; see datasets/README.md")
    check_records(name, records, training=training)
    return records


def build_train_mappers(cfg: CfgNode) -> list[Mapper]:
    """One mapper per ``DATASETS.TRAIN`` entry: ``DATASETS.TRAIN_MAPPERS[i]`` or ``INPUT.MAPPER.TRAIN``."""
    names = list(cfg.DATASETS.TRAIN)
    mapper_names = list(cfg.DATASETS.TRAIN_MAPPERS) or [cfg.INPUT.MAPPER.TRAIN] * len(names)
    if len(mapper_names) != len(names):
        raise ValueError(
            f"DATASETS.TRAIN_MAPPERS has {len(mapper_names)} entries but DATASETS.TRAIN has {len(names)} "
            "(expected one mapper name per dataset, or an empty tuple)"
        )
    built: dict[str, Mapper] = {}  # datasets sharing a mapper name share one instance
    for m in mapper_names:
        if m not in built:
            built[m] = MAPPER_REGISTRY.get(m)(cfg, True)
    return [built[m] for m in mapper_names]


def build_video_train_loader(cfg: CfgNode, *, mappers: Sequence[Mapper] | None = None) -> DataLoader:
    """Infinite train loader yielding lists of ``SOLVER.IMS_PER_BATCH // world_size`` clip dicts.

    Args:
        cfg: reads DATASETS.TRAIN / TRAIN_MAPPERS / TRAIN_RATIOS, INPUT.MAPPER.TRAIN, SOLVER.IMS_PER_BATCH,
            DATALOADER.NUM_WORKERS, SEED (< 0: a random seed shared by all ranks).
        mappers: optional mapper per DATASETS.TRAIN entry, replacing the config's choice.
    """
    names = list(cfg.DATASETS.TRAIN)
    if not names:
        raise ValueError("DATASETS.TRAIN is empty (expected at least one registered dataset name)")
    mappers = list(mappers) if mappers is not None else build_train_mappers(cfg)
    if len(mappers) != len(names):
        raise ValueError(f"build_video_train_loader: {len(mappers)} mappers for {len(names)} DATASETS.TRAIN entries")
    world = comm.get_world_size()
    if cfg.SOLVER.IMS_PER_BATCH % world != 0 or cfg.SOLVER.IMS_PER_BATCH < world:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} must be a positive multiple of the {world} ranks"
        )
    records = [load_records(n, training=True) for n in names]
    for n, r, m in zip(names, records, mappers):
        logger.info(f"train dataset {n}: {len(r)} records, mapper {type(m).__name__}")
    dataset = MappedVideoDataset(records, mappers, names, retry_none=True)
    sampler = MixedDatasetSampler(
        [len(r) for r in records], list(cfg.DATASETS.TRAIN_RATIOS), seed=cfg.SEED if cfg.SEED >= 0 else None
    )
    return DataLoader(
        dataset,
        batch_size=cfg.SOLVER.IMS_PER_BATCH // world,
        sampler=sampler,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=trivial_batch_collator,
        worker_init_fn=worker_init_reset_seed,
        drop_last=True,
        generator=_private_generator(),
    )


def _private_generator() -> torch.Generator:
    """A DataLoader without ``generator`` draws its worker base seed from the global torch generator each time an
    iterator is created; a private one keeps the global random stream (saved in checkpoints) unaffected."""
    g = torch.Generator()
    g.manual_seed(int(torch.initial_seed()) % (2**63))
    return g


def build_video_test_loader(cfg: CfgNode, dataset_name: str, *, mapper: Mapper | None = None) -> DataLoader:
    """Loader over ``dataset_name`` (this rank's shard, in order), one video per batch (a list of one dict).

    Args:
        cfg: reads INPUT.MAPPER.TEST and DATALOADER.NUM_WORKERS.
        dataset_name: a registered dataset; its records are mapped by ``INPUT.MAPPER.TEST`` (or ``mapper``).
    """
    records = load_records(dataset_name)
    if mapper is None:
        mapper = MAPPER_REGISTRY.get(cfg.INPUT.MAPPER.TEST)(cfg, False)
    dataset = MappedVideoDataset([records], [mapper], [dataset_name], retry_none=False)
    return DataLoader(
        dataset,
        batch_size=1,
        sampler=InferenceSampler(len(dataset)),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=trivial_batch_collator,
        generator=_private_generator(),
    )
