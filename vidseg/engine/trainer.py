"""``VideoTrainer``: the one trainer of all methods. Every choice goes through registries and config keys."""
from __future__ import annotations

import logging
import os
import weakref
from collections import OrderedDict

import torch
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, TrainerBase
from detectron2.evaluation import DatasetEvaluator, DatasetEvaluators, inference_on_dataset, print_csv_format
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from torch.nn.parallel import DistributedDataParallel

from vidseg.checkpoint import VidsegCheckpointer
from vidseg.registry import EVALUATOR_REGISTRY
from vidseg.solver import build_optimizer

logger = logging.getLogger(__name__)


def wrap_ddp(model: torch.nn.Module) -> torch.nn.Module:
    """DDP for more than one process. CPU models get ``device_ids=None`` (gloo), which detectron2's
    ``create_ddp_model`` does not do (it passes ``device_ids=[local_rank]`` and crashes for a CPU model)."""
    if comm.get_world_size() == 1:
        return model
    on_cuda = next(model.parameters()).is_cuda
    device_ids = [comm.get_local_rank()] if on_cuda else None
    return DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)


class VideoTrainer(DefaultTrainer):
    """detectron2's DefaultTrainer with video loaders, registry-chosen evaluators, vidseg's optimizer,
    CPU-capable DDP and test-time AMP. Projects never subclass it."""

    def __init__(self, cfg: CfgNode) -> None:  # mirrors DefaultTrainer.__init__ except for the DDP wrapper
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = wrap_ddp(model)
        trainer_cls = AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer
        self._trainer = trainer_cls(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = VidsegCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def train(self):
        """Train, then return the evaluation results of the last evaluation (detectron2 returns them only when
        ``TEST.EXPECTED_RESULTS`` is set)."""
        super().train()
        return getattr(self, "_last_eval_results", None)

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(cfg, model)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode):
        from vidseg.data.build import build_video_train_loader

        return build_video_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str):
        from vidseg.data.build import build_video_test_loader

        return build_video_test_loader(cfg, dataset_name)

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None) -> DatasetEvaluator:
        """``TEST.EVALUATORS`` if set, else the dataset's ``evaluator_type``; plus the overlay writer when
        ``TEST.VIS_VIDEOS > 0``."""
        import vidseg.evaluation  # noqa: F401  (registers the evaluators)
        from vidseg.engine.overlay import OverlayWriter

        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        names = list(cfg.TEST.EVALUATORS)
        if not names:
            evaluator_type = MetadataCatalog.get(dataset_name).get("evaluator_type")
            if not evaluator_type:
                raise ValueError(
                    f"dataset {dataset_name!r} has no metadata 'evaluator_type'; set TEST.EVALUATORS to one of "
                    f"{sorted(EVALUATOR_REGISTRY._obj_map)}"
                )
            names = [evaluator_type]
        evaluators = [EVALUATOR_REGISTRY.get(n)(dataset_name, output_folder) for n in names]
        if cfg.TEST.VIS_VIDEOS > 0:
            evaluators.append(
                OverlayWriter(dataset_name, os.path.join(output_folder, "overlays"), max_videos=cfg.TEST.VIS_VIDEOS)
            )
        return evaluators[0] if len(evaluators) == 1 else DatasetEvaluators(evaluators)

    @classmethod
    def test(cls, cfg: CfgNode, model: torch.nn.Module, evaluators=None) -> OrderedDict:
        """Evaluate on every ``DATASETS.TEST`` entry; ``TEST.AMP`` runs inference under autocast."""
        results: OrderedDict = OrderedDict()
        for idx, dataset_name in enumerate(cfg.DATASETS.TEST):
            loader = cls.build_test_loader(cfg, dataset_name)
            evaluator = evaluators[idx] if evaluators is not None else cls.build_evaluator(cfg, dataset_name)
            device_type = "cuda" if cfg.MODEL.DEVICE.startswith("cuda") else "cpu"
            with torch.autocast(device_type=device_type, enabled=bool(cfg.TEST.AMP)):
                results[dataset_name] = inference_on_dataset(model, loader, evaluator)
            if comm.is_main_process() and results[dataset_name]:
                logger.info("Evaluation results for %s in csv format:", dataset_name)
                print_csv_format(results[dataset_name])
        if len(results) == 1:
            results = list(results.values())[0]
        return results
