"""Video evaluators (``docs/architecture.md``). Importing this package registers them in ``EVALUATOR_REGISTRY``.

Each evaluator is a detectron2 ``DatasetEvaluator`` built as ``cls(dataset_name, output_dir=None, *,
distributed=True)``; it reads ground truth from ``DatasetCatalog`` video records and predictions from
``outputs[i]["video_instances"]``, and returns ``{task: {metric: value}}`` with values as fractions
(task = ``ytvis`` | ``vos`` | ``fbms`` | ``mots``). The metric cores are pure functions on numpy / RLE inputs,
shared with the command line ``python -m vidseg.evaluation {ytvis,vos,fbms,mots} --gt ... --pred ...``.
"""
from .base import VideoEvaluatorBase, check_predictions
from .fbms import FBMSEvaluator
from .mots import MOTSEvaluator
from .vos import VOSEvaluator
from .ytvis import YTVISEvaluator

__all__ = [
    "VideoEvaluatorBase",
    "check_predictions",
    "FBMSEvaluator",
    "MOTSEvaluator",
    "VOSEvaluator",
    "YTVISEvaluator",
]
