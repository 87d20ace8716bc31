"""Every vidseg registry. Meta-architectures use detectron2's ``META_ARCH_REGISTRY``.

Each registry documents the call signature its members must accept.
"""
from detectron2.utils.registry import Registry

MAPPER_REGISTRY = Registry("MAPPER")
MAPPER_REGISTRY.__doc__ = """Dataset mappers: ``cls(cfg, is_train: bool)`` -> callable(video_record: dict) -> dict | None.

Train mappers return one model-input dict per sampled clip; test mappers one dict per whole video
(``docs/architecture.md``, "Data contracts"). Selected by ``INPUT.MAPPER.{TRAIN,TEST}`` or ``DATASETS.TRAIN_MAPPERS``.
"""

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = """Dataset evaluators: ``cls(dataset_name: str, output_dir: str | None = None, *,
distributed: bool = True)`` -> detectron2 ``DatasetEvaluator`` reading ``output["video_instances"]``.

Selected by the dataset metadata ``evaluator_type`` or overridden by ``TEST.EVALUATORS``.
"""

TRACKER_REGISTRY = Registry("TRACKER")
TRACKER_REGISTRY.__doc__ = """Trackers (:class:`vidseg.tracking.Tracker`): ``cls(**kwargs)`` built by ``build_tracker(cfg)``;
``tracker.update(frame_idx, candidates) -> ids`` per frame, ``tracker.finalize() -> VideoInstances``; offline use:
``tracker(frames: list[FrameDetections]) -> VideoInstances``.
"""

PIXEL_DECODER_REGISTRY = Registry("PIXEL_DECODER")
PIXEL_DECODER_REGISTRY.__doc__ = """Pixel decoders of Mask2Former-style models: ``cls(cfg, input_shape: dict[str, ShapeSpec])``.

``decoder.forward_features(features: dict[str, Tensor]) -> (mask_features, multi_scale_features)``:
``mask_features`` B×MASK_DIM×H/4×W/4 and a list of 3 maps B×CONV_DIM×Hl×Wl ordered low -> high resolution
(res5, res4, res3). Selected by ``MODEL.PIXEL_DECODER.NAME``; built by
``vidseg.modeling.pixel_decoder.build_pixel_decoder``.
"""

COST_TERM_REGISTRY = Registry("COST_TERM")
COST_TERM_REGISTRY.__doc__ = """Terms of a tracker's assignment cost: ``fn(tracks: Side, cands: Side) -> ndarray`` of shape
(len(tracks), len(cands)) of costs, lower is better (the built-in terms are negated similarities in [−1, 0]). ``Side`` is
:class:`vidseg.tracking.costs.Side`; a term reads the fields it needs and raises ``ValueError`` if one is missing.
"""

MOTION_PRIOR_REGISTRY = Registry("MOTION_PRIOR")
MOTION_PRIOR_REGISTRY.__doc__ = """Motion priors: ``cls(cfg)``; ``prior.predict(histories: list[TrackHistory], target_frame: int)
-> list[np.ndarray | None]`` gives each track's predicted H×W boolean mask at ``target_frame`` (``None``: no
prediction). ``prior.history`` bounds the past masks a tracker keeps per track. Selected by
``MODEL.MOTION_PRIOR.NAME``; trackers turn a prediction into the cost term ``−λ·IoU(predicted, candidate)`` (``λ·(1 − IoU)`` up to a constant).
"""


def register_as(registry: Registry, name: str):
    """Decorator registering ``obj`` in ``registry`` under ``name`` (fvcore's ``register`` uses ``__name__``)."""

    def deco(obj):
        registry._do_register(name, obj)
        return obj

    return deco

CHECKPOINT_CONVERTER_REGISTRY = Registry("CHECKPOINT_CONVERTER")
CHECKPOINT_CONVERTER_REGISTRY.__doc__ = """Converters of official checkpoint layouts for ``python -m vidseg.checkpoint.convert
--from NAME``: ``fn(state: dict[str, Tensor], model: nn.Module | None) -> dict[str, Tensor]`` renames a flat
state dict to vidseg's names, placed into ``model`` when given (else into the default layout: ``backbone.``,
``pixel_decoder.``, ``predictor.``). Values are returned unchanged (renames only); keys it does not convert are
left out (the command reports them as dropped). Method packages register their own (``--from instmove``).
"""
