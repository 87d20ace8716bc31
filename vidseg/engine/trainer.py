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
from detectron2.evaluation import DatasetEvaluator, DatasetEvaluators, inference_on_dataset
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from torch.nn.parallel import DistributedDataParallel

from vidseg.checkpoint import VidsegCheckpointer
from vidseg.registry import EVALUATOR_REGISTRY
from vidseg.solver import build_optimizer

from .report import report_results
from .reproducibility import RngSnapshot, RngState
from .safety import check_num_classes, install_loss_check, one_line_divergence

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
        self.rng = RngState(getattr(data_loader, "sampler", None))
        self.checkpointer = VidsegCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self), rng=self.rng)
        install_loss_check(model, weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @classmethod
    def build_model(cls, cfg: CfgNode) -> torch.nn.Module:
        check_num_classes(cfg)
        return super().build_model(cfg)

    def build_hooks(self):
        """detectron2's hooks, plus ``RngSnapshot`` right before the checkpointer (every rank's random state is
        gathered into the checkpoint)."""
        from detectron2.engine.hooks import PeriodicCheckpointer

        hooks = super().build_hooks()
        at = next((i for i, h in enumerate(hooks) if isinstance(h, PeriodicCheckpointer)), 0)
        hooks.insert(at, RngSnapshot(self.rng, self.cfg.SOLVER.CHECKPOINT_PERIOD, self.cfg.SOLVER.MAX_ITER))
        return hooks

    def resume_or_load(self, resume: bool = True) -> None:
        """Resume from the newest loadable checkpoint of OUTPUT_DIR (model, optimizer, scheduler, iteration,
        random states, data position) or load ``MODEL.WEIGHTS``. A full model checkpoint (resume, or a vidseg
        checkpoint as ``MODEL.WEIGHTS``) must load all but ``MODEL.WEIGHTS_MAX_UNLOADED`` of the weights."""
        self.checkpointer.max_unloaded = float(self.cfg.MODEL.WEIGHTS_MAX_UNLOADED)
        self.checkpointer.check_formats = ("vidseg",)  # backbone / other-layout weights are partial by design
        self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=resume)
        if self.checkpointer.resumed_from:
            self.start_iter = self.iter + 1
            sampler = getattr(self.data_loader, "sampler", None)
            if hasattr(sampler, "skip"):
                sampler.skip(self.start_iter * self.data_loader.batch_size)
        else:
            self.start_iter = 0

    def run_step(self):
        """One step; a NaN/Inf loss (or matching cost) ends training with a one-line ``FloatingPointError`` naming
        the iteration and the terms, and no checkpoint is written afterwards."""
        try:
            super().run_step()
        except FloatingPointError as e:
            self.checkpointer.refuse_saving = f"training diverged at iteration {self.iter}"
            raise FloatingPointError(one_line_divergence(e, self.iter)) from None

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
                OverlayWriter(dataset_name, os.path.join(output_folder, "overlays"), max_videos=cfg.TEST.VIS_VIDEOS,
                              fmt=cfg.TEST.VIS_FORMAT)
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
            if comm.is_main_process():
                report_results(cfg, dataset_name, results[dataset_name])
        if len(results) == 1:
            results = list(results.values())[0]
        return results
