"""Worker of ``test_gloo_equivalence.py``: ``train_net.main`` (optionally over 2 gloo processes) on a model and a
mapper without any randomness, so that 1 process with batch B and 2 processes with B/2 each must end with the same
weights. Registered at import, so the spawned processes (which re-import this file) have them too."""
import math
import sys
from pathlib import Path

import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import launch
from detectron2.modeling import META_ARCH_REGISTRY
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import train_net  # noqa: E402
from vidseg.registry import MAPPER_REGISTRY  # noqa: E402

DATASET = "_gloo_equivalence_train"
NUM_RECORDS = 24


def _records():
    return [{"video_id": i, "x": [math.sin(i), math.cos(i), i / NUM_RECORDS, 1.0],
             "y": 2.0 * math.sin(i) - 0.5 * math.cos(i) + 0.3} for i in range(NUM_RECORDS)]


if DATASET not in DatasetCatalog.list():
    DatasetCatalog.register(DATASET, _records)


@MAPPER_REGISTRY.register()
class GlooCheckMapper:
    """Record -> tensors, no augmentation (the real mappers draw from per-process random streams)."""

    def __init__(self, cfg, is_train=True):
        pass

    def __call__(self, record):
        return {"x": torch.tensor(record["x"]), "y": torch.tensor(record["y"])}


@META_ARCH_REGISTRY.register()
class GlooCheckNet(nn.Module):
    """A 2-layer MLP regressing y; the loss is the batch mean, so DDP's gradient average over equal shards is
    the gradient of the whole batch."""

    def __init__(self, cfg):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, batched_inputs):
        x = torch.stack([b["x"] for b in batched_inputs])
        y = torch.stack([b["y"] for b in batched_inputs])
        return {"loss_mse": ((self.net(x).squeeze(1) - y) ** 2).mean()}


if __name__ == "__main__":
    args = train_net.argument_parser().parse_args(sys.argv[1:])
    launch(train_net.main, args.num_gpus, dist_url="auto", args=(args,))
