"""Training "until per-frame mIoU plateaus" for the IFR consistency experiment (``benchmarks/ifr_consistency.py``).

A run trains at a constant learning rate (after warm-up) with ``SOLVER.MAX_ITER`` as a cap. Every ``every``
iterations :class:`PlateauHook` evaluates the identity-agnostic per-frame mIoU of the model on a small *plateau*
split (videos of their own generator seed, neither training nor held-out test videos) and stops the run when the
best mIoU of the last ``patience`` evaluations is less than ``delta`` points above the best mIoU before them (at
least ``(patience + 1) · every`` iterations). The checkpoint at the stop is ``model_final.pth``; the mIoU history
goes into the run's record, so the table shows how every run ended (plateau or cap).
"""
from __future__ import annotations

from detectron2.data import DatasetCatalog
from detectron2.engine import HookBase
from detectron2.evaluation import DatasetEvaluator, inference_on_dataset

from ifr_consistency_data import per_frame_miou


class Plateaued(BaseException):
    """Ends ``trainer.train()`` at a plateau (a ``BaseException``: detectron2 logs ``Exception``s as failures)."""


def plateau_reached(history: list[float], patience: int, delta: float) -> bool:
    """True when the best of the last ``patience`` values is < ``delta`` above the best value before them."""
    if len(history) <= patience:
        return False
    return max(history[-patience:]) - max(history[:-patience]) < delta


class MIoUEvaluator(DatasetEvaluator):
    """Per-frame mIoU (×100) of the predicted ``VideoInstances`` on a registered dataset."""

    def __init__(self, dataset_name: str) -> None:
        self.records = DatasetCatalog.get(dataset_name)
        self.predictions: dict = {}

    def reset(self) -> None:
        self.predictions = {}

    def process(self, inputs, outputs) -> None:
        for x, y in zip(inputs, outputs):
            self.predictions[x["video_id"]] = y["video_instances"]

    def evaluate(self) -> dict:
        return {"mIoU": 100 * per_frame_miou(self.records, self.predictions)}


class PlateauHook(HookBase):
    """Evaluates every ``every`` iterations on ``dataset_name``; saves ``model_final`` and raises
    :class:`Plateaued` at a plateau (``trainer.max_iter`` is the cap, reached normally)."""

    def __init__(self, dataset_name: str, every: int, patience: int, delta: float) -> None:
        self.dataset_name, self.every, self.patience, self.delta = dataset_name, every, patience, delta
        self.history: list[tuple[int, float]] = []
        self.plateaued = False

    def after_step(self) -> None:
        it = self.trainer.iter + 1
        if it % self.every and it != self.trainer.max_iter:
            return
        loader = self.trainer.build_test_loader(self.trainer.cfg, self.dataset_name)
        miou = inference_on_dataset(self.trainer.model, loader, MIoUEvaluator(self.dataset_name))["mIoU"]
        self.history.append((it, miou))
        if it < self.trainer.max_iter and plateau_reached([m for _, m in self.history], self.patience, self.delta):
            self.plateaued = True
            self.trainer.checkpointer.save("model_final")
            raise Plateaued
