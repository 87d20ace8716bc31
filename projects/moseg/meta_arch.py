"""``TwoStreamMaskRCNN``: appearance + motion ResNet-FPN streams, fused per level, with the overlap tracker
(paper 001, "Towards Segmenting Anything That Moves"). Orchestration only: the fusion, ROI
heads, static branch, stage-weight assembly and output conversion live in their own modules."""
from __future__ import annotations

from typing import Sequence

import logging

import torch
from detectron2.config import CfgNode, configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import ImageList, Instances
from torch import nn

from vidseg.data.flow import FlowEncoder
from vidseg.modeling import PerFrameMaskRCNN
from vidseg.tracking import FrameDetections

from .fusion import ConcatConvFusion
from .outputs import fgbg_video_instances, frame_detections
from .roi_heads import TwoStreamROIHeads
from .stage_weights import is_two_stream_checkpoint, load_stage_weights
from .static_branch import StaticBranch, build_static_branch

logger = logging.getLogger(__name__)

__all__ = ["TwoStreamMaskRCNN"]

STREAMS = ("two_stream", "appearance", "motion")
FEATURE_SETS = ("fused", "appearance", "motion")
MISSING_FLOW = ("static_only", "repeat_previous")
OUTPUTS = ("tracks", "fgbg")
Features = dict[str, torch.Tensor]


@META_ARCH_REGISTRY.register()
class TwoStreamMaskRCNN(PerFrameMaskRCNN):
    """Mask R-CNN on RGB frames (``backbone``) and flow encodings (``motion_backbone``), fused by a shared
    adaptor; RPN and box head read one feature set, the mask head another (fused / fused / appearance in the
    final model). ``streams`` ``appearance`` or ``motion`` give the single-stream stage models, where
    ``backbone`` reads that stream's input.

    Inputs (as :class:`PerFrameMaskRCNN`) carry per frame ``flow_image`` (3×H×W float, the mapper's encoding)
    or ``flow`` (2×H×W raw, encoded here); ``None`` where a frame has no forward flow (the last one). Training
    returns ``loss_rpn_cls, loss_rpn_loc, loss_cls, loss_box_reg, loss_mask`` (``loss_mask`` carries no gradient
    when the mask head and its features are frozen). Inference returns ``{"video_instances": VideoInstances}``
    per video: tracked moving (+ static) detections, or the fg/bg union (``inference_output="fgbg"``).
    """

    @configurable
    def __init__(
        self,
        *,
        streams: str = "two_stream",
        motion_backbone: Backbone | None = None,
        fusion: ConcatConvFusion | None = None,
        static_branch: StaticBranch | None = None,
        flow_encoder: FlowEncoder,
        motion_pixel_mean: Sequence[float] = (0.0, 0.0, 0.0),
        motion_pixel_std: Sequence[float] = (1.0, 1.0, 1.0),
        rpn_features: str = "fused",
        box_features: str = "fused",
        mask_features: str = "appearance",
        frozen: Sequence[str] = (),
        missing_flow: str = "static_only",
        inference_output: str = "tracks",
        fgbg_score_thresh: float = 0.7,
        stage_weights: dict[str, str] | None = None,
        use_static_branch: bool = True,
        **kwargs,
    ) -> None:
        """
        Args:
            streams: ``two_stream`` | ``appearance`` | ``motion``.
            motion_backbone, fusion: the motion stream and the adaptor (two_stream only).
            static_branch: appearance-only detector run at inference (two_stream only), or ``None``.
            flow_encoder: encodes a raw ``flow`` input when no ``flow_image`` is given.
            motion_pixel_mean / motion_pixel_std: normalisation of the flow encoding (3 values each).
            rpn_features / box_features / mask_features: ``fused`` | ``appearance`` | ``motion``.
            frozen: names of submodules whose parameters are frozen (and kept in eval mode).
            missing_flow: a frame without flow gives only static detections (``static_only``) or reuses the
                nearest earlier (else later) flow of the video (``repeat_previous``).
            inference_output: ``tracks`` or ``fgbg``; ``fgbg_score_thresh`` for the latter.
            stage_weights: ``appearance`` / ``motion`` / ``static`` local checkpoint paths loaded after building
                (``from_config`` passes none when ``MODEL.WEIGHTS`` is already a complete two-stream checkpoint).
            use_static_branch: run ``static_branch`` at inference (a joint model always carries its weights, so
                that one checkpoint serves evaluation with and without it).
            kwargs: :class:`PerFrameMaskRCNN` arguments (backbone, proposal_generator, roi_heads, tracker, ...).
        """
        super().__init__(**kwargs)
        for name, value, allowed in (("STREAMS", streams, STREAMS), ("MISSING_FLOW", missing_flow, MISSING_FLOW),
                                     ("INFERENCE_OUTPUT", inference_output, OUTPUTS),
                                     ("RPN_FEATURES", rpn_features, FEATURE_SETS),
                                     ("BOX_FEATURES", box_features, FEATURE_SETS),
                                     ("MASK_FEATURES", mask_features, FEATURE_SETS)):
            if value not in allowed:
                raise ValueError(f"MODEL.MOSEG.{name}={value!r}: expected one of {allowed}")
        if (streams == "two_stream") != (motion_backbone is not None and fusion is not None):
            raise ValueError("TwoStreamMaskRCNN: motion_backbone and fusion are required for (only) two_stream")
        if static_branch is not None and streams != "two_stream":
            raise ValueError("MODEL.MOSEG.STATIC_BRANCH.ENABLED needs MODEL.MOSEG.STREAMS='two_stream'")
        self.streams = streams
        self.motion_backbone = motion_backbone
        self.fusion = fusion
        self.static_branch = static_branch
        self.use_static_branch = bool(use_static_branch) and static_branch is not None
        self._told_static_off = False
        self.flow_encoder = flow_encoder
        self.register_buffer("motion_pixel_mean", torch.tensor(list(motion_pixel_mean)).view(-1, 1, 1), False)
        self.register_buffer("motion_pixel_std", torch.tensor(list(motion_pixel_std)).view(-1, 1, 1), False)
        self.rpn_features, self.box_features, self.mask_features = rpn_features, box_features, mask_features
        self.missing_flow = missing_flow
        self.inference_output = inference_output
        self.fgbg_score_thresh = float(fgbg_score_thresh)
        weights = stage_weights or {}
        # read by VidsegCheckpointer: these need not be in MODEL.WEIGHTS (e.g. the static branch of a joint model)
        self.preloaded_keys = load_stage_weights(
            self, appearance_weights=weights.get("appearance", ""), motion_weights=weights.get("motion", ""),
            static_weights=weights.get("static", ""),
            motion_prefix="backbone." if streams == "motion" else "motion_backbone.",
        )
        self.frozen = tuple(frozen)
        for name in self.frozen:
            self.get_submodule(name).requires_grad_(False)
        self.train(self.training)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        m = cfg.MODEL.MOSEG
        ret = super().from_config(cfg)
        if not isinstance(ret["roi_heads"], TwoStreamROIHeads):
            raise ValueError(f"MODEL.ROI_HEADS.NAME={cfg.MODEL.ROI_HEADS.NAME!r}: TwoStreamMaskRCNN needs "
                             "'TwoStreamROIHeads' (box and mask heads may read different feature sets)")
        shape = ret["backbone"].output_shape()
        two = m.STREAMS == "two_stream"
        stages = {"appearance": m.APPEARANCE_WEIGHTS, "motion": m.MOTION_WEIGHTS, "static": m.STATIC_BRANCH.WEIGHTS}
        if two and is_two_stream_checkpoint(cfg.MODEL.WEIGHTS):  # one checkpoint = one model: no stage files
            logger.info("moseg: %s is a complete two-stream checkpoint; stage checkpoints are not read",
                        cfg.MODEL.WEIGHTS)
            stages = {}
        ret.update(streams=m.STREAMS, flow_encoder=FlowEncoder(cfg), motion_pixel_mean=m.MOTION_PIXEL_MEAN,
                   motion_pixel_std=m.MOTION_PIXEL_STD, rpn_features=m.RPN_FEATURES, box_features=m.BOX_FEATURES,
                   mask_features=m.MASK_FEATURES, missing_flow=m.MISSING_FLOW,
                   inference_output=m.INFERENCE_OUTPUT, fgbg_score_thresh=m.FGBG_SCORE_THRESH,
                   stage_weights=stages, use_static_branch=m.STATIC_BRANCH.ENABLED)
        if two:
            channels = {s.channels for s in shape.values()}
            if channels != {m.FUSION.CONV_DIM}:
                raise ValueError(f"MODEL.MOSEG.FUSION.CONV_DIM={m.FUSION.CONV_DIM} must equal the FPN channels "
                                 f"{sorted(channels)} (MODEL.FPN.OUT_CHANNELS)")
            ret["motion_backbone"] = build_backbone(cfg)
            ret["fusion"] = ConcatConvFusion(in_channels=channels.pop(), out_channels=m.FUSION.CONV_DIM,
                                             num_convs=m.FUSION.NUM_CONVS, kernel_size=m.FUSION.KERNEL_SIZE)
            # always built (frozen, copied from stage A): the joint checkpoint then holds it; ENABLED = run it
            ret["static_branch"] = build_static_branch(cfg, shape)
        elif m.STATIC_BRANCH.ENABLED:
            raise ValueError("MODEL.MOSEG.STATIC_BRANCH.ENABLED needs MODEL.MOSEG.STREAMS='two_stream'")
        frozen = [("backbone", m.FREEZE_MOTION_BACKBONE if m.STREAMS == "motion" else m.FREEZE_APPEARANCE_BACKBONE),
                  ("motion_backbone", two and m.FREEZE_MOTION_BACKBONE), ("roi_heads.mask_head", m.FREEZE_MASK_HEAD),
                  ("proposal_generator", m.FREEZE_RPN), ("roi_heads.box_head", m.FREEZE_BOX_HEAD),
                  ("roi_heads.box_predictor", m.FREEZE_BOX_HEAD), ("static_branch", two)]
        ret["frozen"] = tuple(name for name, on in frozen if on)
        return ret

    def train(self, mode: bool = True) -> "TwoStreamMaskRCNN":
        """Batch norms inside frozen submodules keep their statistics (eval mode); the inference-only static
        branch is always in eval mode. Frozen heads otherwise keep the training flag (their losses are logged)."""
        super().train(mode)
        for name in getattr(self, "frozen", ()):
            for module in self.get_submodule(name).modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        if self.static_branch is not None:
            self.static_branch.eval()
        return self

    # ------------------------------------------------------------------ inputs
    def clip_flows(self, clip: dict) -> list[torch.Tensor | None]:
        """Per frame the 3×H×W flow encoding (``flow_image``, else ``flow`` encoded here) or ``None``."""
        n = len(clip["image"])
        if "flow_image" in clip:
            flows = list(clip["flow_image"])
        elif "flow" in clip:
            flows = [None if f is None else self.flow_encoder.encode_tensor(f) for f in clip["flow"]]
        else:
            flows = [None] * n
        if len(flows) != n:
            raise ValueError(f"TwoStreamMaskRCNN: video {clip.get('video_id')!r} has {n} frames but {len(flows)} flows")
        return flows

    def preprocess_flow(self, flows: Sequence[torch.Tensor]) -> ImageList:
        """Normalise and pad N 3×H×W flow encodings like the images."""
        x = [(self._move_to_current_device(f).float() - self.motion_pixel_mean) / self.motion_pixel_std for f in flows]
        return ImageList.from_tensors(x, self.backbone.size_divisibility,
                                      padding_constraints=self.backbone.padding_constraints)

    @staticmethod
    def _run(module: nn.Module, x: torch.Tensor) -> Features:
        """A stream's forward, without autograd when none of its parameters trains."""
        trains = torch.is_grad_enabled() and any(p.requires_grad for p in module.parameters())
        with torch.set_grad_enabled(trains):
            return module(x)

    def extract(self, images: Sequence[torch.Tensor] | None, flows: Sequence[torch.Tensor] | None
                ) -> tuple[ImageList, dict[str, Features]]:
        """Backbone features of N frames: (the padded inputs, {"appearance", "motion", "fused"}: {level:
        N×C×h×w}); a single-stream model maps all three names to its one feature dict."""
        if self.streams == "motion":
            inputs = self.preprocess_flow(flows)
            feats = self._run(self.backbone, inputs.tensor)
            return inputs, dict.fromkeys(FEATURE_SETS, feats)
        inputs = self.preprocess_image([{"image": im} for im in images])
        app = self._run(self.backbone, inputs.tensor)
        if self.streams == "appearance":
            return inputs, dict.fromkeys(FEATURE_SETS, app)
        return inputs, self._with_motion(inputs, app, flows)

    def _with_motion(self, inputs: ImageList, app: Features, flows: Sequence[torch.Tensor]) -> dict[str, Features]:
        """The three feature sets of N frames from their padded images, appearance features and flows."""
        flow_inputs = self.preprocess_flow(flows)
        if flow_inputs.tensor.shape != inputs.tensor.shape or flow_inputs.image_sizes != inputs.image_sizes:
            raise ValueError(f"TwoStreamMaskRCNN: flow sizes {flow_inputs.image_sizes} differ from image sizes "
                             f"{inputs.image_sizes} (the mapper must transform frames and flow alike)")
        mot = self._run(self.motion_backbone, flow_inputs.tensor)
        return {"appearance": app, "motion": mot, "fused": self.fusion(app, mot)}

    # ------------------------------------------------------------------ training
    def forward(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor] | list[dict]:
        if not self.training:
            return [self.track_video(video) for video in batched_inputs]
        images, flows, targets = [], [], []
        for clip in batched_inputs:
            clip_flows = self.clip_flows(clip)
            if self.streams != "appearance" and any(f is None for f in clip_flows):
                raise ValueError(f"TwoStreamMaskRCNN: training frame of video {clip.get('video_id')!r} has no flow "
                                 "(frames without forward flow must not be sampled; check flow_file_names)")
            for frame, flow in zip(self.clip_to_frames(clip), clip_flows):
                inst = frame["instances"].to(self.device)
                if self.roi_heads.num_classes == 1:  # class-agnostic: any dataset category is the one class
                    inst.gt_classes = torch.zeros_like(inst.gt_classes)
                images.append(frame["image"])
                flows.append(flow)
                targets.append(inst)
        inputs, feats = self.extract(images, flows)
        proposals, losses = self.proposal_generator(inputs, feats[self.rpn_features], targets)
        _, det_losses = self.roi_heads(inputs, feats[self.box_features], proposals, targets,
                                       mask_features=feats[self.mask_features])
        losses.update(det_losses)
        return losses

    # ------------------------------------------------------------------ inference
    def resolve_missing_flow(self, flows: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
        """``repeat_previous``: fill each gap with the nearest earlier flow (else the nearest later one)."""
        flows = list(flows)
        if self.missing_flow != "repeat_previous" or all(f is None for f in flows):
            return flows
        known = [i for i, f in enumerate(flows) if f is not None]
        return [f if f is not None else flows[max([k for k in known if k < i], default=known[0])]
                for i, f in enumerate(flows)]

    def _moving(self, images: Sequence[torch.Tensor], flows: Sequence[torch.Tensor | None]
                ) -> tuple[list[Instances | None], ImageList | None, Features | None]:
        """Moving-object detections of N frames (``None`` for frames the model cannot run on), the padded
        images and the appearance features (both ``None`` for a motion-only model)."""
        n = len(images)
        if self.streams == "appearance":
            inputs, feats = self.extract(images, None)
            have = list(range(n))
        else:
            have = [i for i in range(n) if flows[i] is not None]
            inputs, feats = None, None
            if self.streams == "two_stream":
                inputs = self.preprocess_image([{"image": im} for im in images])
                feats = {"appearance": self.backbone(inputs.tensor)}
        out: list[Instances | None] = [None] * n
        app_feats = None if feats is None else feats["appearance"]
        if not have:
            return out, inputs, app_feats
        if self.streams == "two_stream":
            run_inputs = ImageList(inputs.tensor[have], [inputs.image_sizes[i] for i in have])
            app = {k: v[have] for k, v in app_feats.items()}
            run_feats = self._with_motion(run_inputs, app, [flows[i] for i in have])
        elif self.streams == "motion":
            run_inputs, run_feats = self.extract(None, [flows[i] for i in have])
        else:
            run_inputs, run_feats = inputs, feats
        proposals, _ = self.proposal_generator(run_inputs, run_feats[self.rpn_features], None)
        results, _ = self.roi_heads(run_inputs, run_feats[self.box_features], proposals, None,
                                    mask_features=run_feats[self.mask_features])
        for i, r in zip(have, results):
            out[i] = r
        return out, inputs, app_feats

    def detect_frames(self, images: Sequence[torch.Tensor], height: int, width: int,
                      flows: Sequence[torch.Tensor | None] | None = None) -> list[FrameDetections]:
        """Moving (+ static) detections of T frames (3×H'×W' images, 3×H'×W' flow encodings or ``None``),
        masks pasted at (height, width), in chunks of ``clip_chunk`` frames."""
        if self.static_branch is not None and not self.use_static_branch and not self._told_static_off:
            logger.warning("moseg: evaluating with the static branch OFF (MODEL.MOSEG.STATIC_BRANCH.ENABLED False): "
                           "only moving detections are tracked; the paper's FBMS protocol uses it "
                           "(configs/moseg/fbms.yaml)")
            self._told_static_off = True
        flows = self.resolve_missing_flow(flows if flows is not None else [None] * len(images))
        chunk = self.clip_chunk or len(images)
        dets: list[FrameDetections] = []
        with torch.no_grad():
            for start in range(0, len(images), chunk):
                ims, fls = images[start:start + chunk], flows[start:start + chunk]
                moving, inputs, app = self._moving(ims, fls)
                static: list[Instances | None] = [None] * len(ims)
                if self.use_static_branch:
                    static = self.static_branch(inputs, app)
                    static = self.roi_heads.forward_with_given_boxes(app, static)  # masks: appearance features
                for mv, st in zip(moving, static):
                    post = [None if x is None else detector_postprocess(x, height, width) for x in (mv, st)]
                    dets.append(frame_detections(post[0], post[1], (height, width)))
        return dets

    def detect_video(self, video: dict) -> list[FrameDetections]:
        """Per-frame detections of one whole-video input dict (``image``, ``flow_image``/``flow``, ``height``,
        ``width``)."""
        images = video["image"]
        if len(images) == 0:
            raise ValueError(f"TwoStreamMaskRCNN: video {video.get('video_id')!r} has no frames")
        height = int(video.get("height", images[0].shape[-2]))
        width = int(video.get("width", images[0].shape[-1]))
        return self.detect_frames(images, height, width, self.clip_flows(video))

    def track_video(self, video: dict) -> dict:
        """{"video_instances": VideoInstances} of one video: tracks, or the fg/bg union (``fgbg``)."""
        dets = self.detect_video(video)
        frame_idx = list(video.get("frame_idx", range(len(dets))))
        if self.inference_output == "fgbg":
            vi = fgbg_video_instances(dets, score_thresh=self.fgbg_score_thresh, frame_idx=frame_idx)
        else:
            vi = self.tracker(dets, frame_idx=frame_idx)
        return {"video_instances": vi}
