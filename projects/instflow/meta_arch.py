"""``InstanceFlowVIS`` (paper 002; method spec §2, §4, §5): bottom-up VIS with temporal context fusion and
instance-flow assembly.

Module tree: ``backbone`` (DeepLab ResNet), ``sem_decoder`` + ``sem_head``, ``ins_decoder`` + ``center_head`` +
``offset_head`` (intra-frame), ``inter_decoder`` + ``inter_offset_head`` (inter-frame; initialised as a copy of the
intra-frame decoder and offset head), ``tcf`` (one fusion module per fused skip: s16 ASPP output, s8 projection).
Training input: 2-frame clips of ``InstFlowPairMapper`` (frame 0 target, frame 1 reference, ``instflow_targets``).
Inference input: whole-video dicts; frames are processed one at a time (:mod:`.streaming`).
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.structures import ImageList
from torch import nn

from .decoder import CenterHead, DeepLabDecoder, OffsetHead, SemanticHead
from .losses import LossWeights, instflow_losses
from .streaming import StreamSettings, track_video
from .targets import IGNORE, TARGET_KEYS
from .tcf import build_fusion

logger = logging.getLogger(__name__)


@META_ARCH_REGISTRY.register()
class InstanceFlowVIS(nn.Module):
    @configurable
    def __init__(self, *, backbone: nn.Module, sem_decoder: nn.Module, sem_head: nn.Module, ins_decoder: nn.Module,
                 center_head: nn.Module, offset_head: nn.Module, inter_decoder: nn.Module | None,
                 inter_offset_head: nn.Module | None, tcf: nn.ModuleList | None, loss_weights: LossWeights,
                 stream: StreamSettings, pixel_mean, pixel_std, size_divisibility: int = 32) -> None:
        super().__init__()
        self.backbone, self.sem_decoder, self.sem_head = backbone, sem_decoder, sem_head
        self.ins_decoder, self.center_head, self.offset_head = ins_decoder, center_head, offset_head
        self.inter_decoder, self.inter_offset_head, self.tcf = inter_decoder, inter_offset_head, tcf
        self.loss_weights, self.stream, self.size_divisibility = loss_weights, stream, size_divisibility
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)
        if self.inter_decoder is not None:
            self.copy_intra_to_inter()
            self.register_load_state_dict_post_hook(InstanceFlowVIS._inter_from_stage1)

    @classmethod
    def from_config(cls, cfg) -> dict:
        f = cfg.MODEL.INSTFLOW
        backbone = build_backbone(cfg)
        shapes = backbone.output_shape()
        missing = {"res2", "res3", "res5"} - set(shapes)
        if missing:
            raise ValueError(f"MODEL.RESNETS.OUT_FEATURES: InstanceFlowVIS needs res2, res3, res5; missing {sorted(missing)}")
        chans = {k: shapes[k].channels for k in ("res2", "res3", "res5")}
        common = dict(aspp_channels=f.ASPP_CHANNELS, aspp_dilations=f.ASPP_DILATIONS, aspp_dropout=f.ASPP_DROPOUT,
                      project_channels=f.PROJECT_CHANNELS, norm=f.NORM)
        num_sem = cfg.MODEL.NUM_CLASSES + 1
        sem_levels = [f.ASPP_CHANNELS, f.SEM_CONVS_DIM, f.SEM_CONVS_DIM]
        inter = f.INTER_ENABLED
        return {
            "backbone": backbone,
            "sem_decoder": DeepLabDecoder(chans, convs_dim=f.SEM_CONVS_DIM, **common),
            "sem_head": SemanticHead(sem_levels, f.SEM_CONVS_DIM, f.SEM_HEAD_CHANNELS, num_sem, f.NORM, f.SEM_MULTI_LEVEL),
            "ins_decoder": DeepLabDecoder(chans, convs_dim=f.INS_CONVS_DIM, **common),
            "center_head": CenterHead(f.INS_CONVS_DIM, f.INS_HEAD_CHANNELS, f.NORM),
            "offset_head": OffsetHead(f.INS_CONVS_DIM, f.INS_HEAD_CHANNELS, f.NORM),
            "inter_decoder": DeepLabDecoder(chans, convs_dim=f.INS_CONVS_DIM, **common) if inter else None,
            "inter_offset_head": OffsetHead(f.INS_CONVS_DIM, f.INS_HEAD_CHANNELS, f.NORM) if inter else None,
            "tcf": build_fusion(cfg, [f.ASPP_CHANNELS, f.PROJECT_CHANNELS[1]]) if inter else None,
            "loss_weights": LossWeights(f.SEM_LOSS_WEIGHT, f.CENTER_LOSS_WEIGHT, f.INTRA_OFFSET_LOSS_WEIGHT,
                                        f.INTER_OFFSET_LOSS_WEIGHT, f.SHAPE_LOSS_WEIGHT, f.SEM_LOSS_TOP_K),
            "stream": StreamSettings.from_config(cfg),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def copy_intra_to_inter(self) -> None:
        """Inter-frame decoder and offset head <- intra-frame ones (paper §IV-A)."""
        self.inter_decoder.load_state_dict(self.ins_decoder.state_dict())
        self.inter_offset_head.load_state_dict(self.offset_head.state_dict())

    @staticmethod
    def _inter_from_stage1(module: nn.Module, incompatible) -> None:
        """``load_state_dict`` post-hook for a stage-1 checkpoint (intra-frame decoder and offset head, no inter-frame
        ones; paper §IV-A): the inter-frame decoder and offset head become copies of the loaded intra-frame ones and
        the TCF modules keep their identity initialisation, so neither counts as missing."""
        if not isinstance(module, InstanceFlowVIS):
            return
        missing = set(incompatible.missing_keys)
        names = [k for k, _ in module.named_parameters()]
        new = ("inter_decoder.", "inter_offset_head.", "tcf.")
        inter = [k for k in names if k.startswith(new[:2])]
        intra = [k for k in names if k.startswith(("ins_decoder.", "offset_head."))]
        if inter and missing.issuperset(inter) and missing.isdisjoint(intra):
            module.copy_intra_to_inter()
            incompatible.missing_keys[:] = [k for k in incompatible.missing_keys if not k.startswith(new)]
            logger.info("stage-1 checkpoint: inter-frame decoder and offset head copied from the intra-frame ones, "
                        "TCF at its identity initialisation")

    # ------------------------------------------------------------------ network
    def normalize(self, frames: list[torch.Tensor]) -> ImageList:
        images = [(f.to(self.device).float() - self.pixel_mean) / self.pixel_std for f in frames]
        return ImageList.from_tensors(images, self.size_divisibility)

    def intra(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Semantic logits, center heatmap and intra offsets at stride 4 (offsets in stride-4 pixels)."""
        y4 = self.ins_decoder(feats)[-1]
        return {"sem": self.sem_head(self.sem_decoder(feats)), "center": self.center_head(y4),
                "off_t": self.offset_head(y4)}

    def compact(self, feats: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A frame's inter-decoder features (s16 ASPP output, s8 projection): what the reference memory holds."""
        return self.inter_decoder.compact(feats)

    def inter(self, target: tuple[torch.Tensor, torch.Tensor], reference: tuple[torch.Tensor, torch.Tensor],
              res2: torch.Tensor) -> torch.Tensor:
        """Inter offsets (stride 4) of target pixels to their centers in the reference; batched pairs."""
        a = self.tcf[0](target[0], reference[0])
        q = self.tcf[1](target[1], reference[1])
        return self.inter_offset_head(self.inter_decoder.fuse(a, q, res2)[-1])

    @staticmethod
    def upsample(out: dict[str, torch.Tensor], size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Stride-4 outputs -> ``size`` (bilinear); offsets rescaled to pixels of ``size``."""
        res = {}
        for k, v in out.items():
            up = F.interpolate(v, size=size, mode="bilinear", align_corners=False)
            if k.startswith("off"):
                up = up * torch.tensor([size[0] / v.shape[-2], size[1] / v.shape[-1]], device=v.device).view(1, 2, 1, 1)
            res[k] = up
        return res

    # ------------------------------------------------------------------ training / inference
    def forward(self, batched_inputs: list[dict]):
        if not self.training:
            return [{"video_instances": self.inference(v)} for v in batched_inputs]
        b = len(batched_inputs)
        if any(len(c["image"]) != 2 or "instflow_targets" not in c for c in batched_inputs):
            raise ValueError("InstanceFlowVIS: training clips must be 2-frame pairs with 'instflow_targets' "
                             "(INPUT.MAPPER.TRAIN: InstFlowPairMapper, INPUT.CLIP.NUM_FRAMES: 2)")
        inter = self.inter_decoder is not None and self.loss_weights.inter + self.loss_weights.shape > 0
        frames = [c["image"][0] for c in batched_inputs]  # the reference is encoded only when it is used
        images = self.normalize(frames + [c["image"][1] for c in batched_inputs] if inter else frames)
        feats = self.backbone(images.tensor)
        target = {k: v[:b] for k, v in feats.items()}
        out = self.intra(target)
        if inter:
            a, q = self.compact(feats)
            out["off_r"] = self.inter((a[:b], q[:b]), (a[b:], q[b:]), target["res2"])
        size = tuple(images.tensor.shape[-2:])
        pred = self.upsample(out, size)
        return instflow_losses(pred, self.batch_targets(batched_inputs, size), self.loss_weights, inter=inter)

    def batch_targets(self, clips: list[dict], size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Pad each clip's targets to the padded batch size (ignore / weight 0 on padding) and stack."""
        out = {}
        for key in TARGET_KEYS:
            padded = []
            for c in clips:
                t = c["instflow_targets"][key].to(self.device)
                pad = (0, size[1] - t.shape[-1], 0, size[0] - t.shape[-2])
                padded.append(F.pad(t, pad, value=IGNORE if key == "sem" else 0))
            out[key] = torch.stack(padded)
        return out

    def inference(self, video: dict, extra_trackers: list | None = None):
        """One whole-video dict -> ``VideoInstances`` (streaming, see :func:`.streaming.track_video`)."""
        with torch.no_grad():
            return track_video(self, video, self.stream, extra_trackers=extra_trackers)
