"""Online inference (method spec §5): frames one at a time, a bounded memory of reference features.

Per frame and test scale: backbone, semantic and intra-frame decoders, the inter-frame decoder once per reference
(all references batched; their compacted features come from the memory, never re-encoded); maps are resized to
the output (native) resolution and averaged over scales (softmax probabilities, heatmaps, offsets); then grouping
(:mod:`.inference`), instance flow per reference and the tracker. The memory keeps only the frames the tracker
will use as references (first + previous ``NUM_ADJACENT_REFS``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from vidseg.tracking import build_tracker

from .inference import find_centers, group_pixels, instance_flow
from .tracker import FlowDetections, InstanceFlowTracker


@dataclass(frozen=True)
class StreamSettings:
    make_tracker: Callable[[], object]
    scales: tuple[float, ...] = (1.0,)
    center_threshold: float = 0.15
    nms_kernel: int = 41
    top_k: int = 200
    flow_mode: str = "residual"
    flow_stride: int = 4

    @classmethod
    def from_config(cls, cfg) -> "StreamSettings":
        i = cfg.MODEL.INSTFLOW.INFERENCE
        name = i.TRACKER
        if name == "InstanceFlowTracker":
            make = lambda: InstanceFlowTracker(cfg)  # noqa: E731
        elif name == "MaskIoUTracker":
            tcfg = cfg.clone()
            tcfg.defrost()
            tcfg.MODEL.TRACKER.NAME = name
            make = lambda: build_tracker(tcfg)  # noqa: E731
        else:
            raise ValueError(f"MODEL.INSTFLOW.INFERENCE.TRACKER: expected 'InstanceFlowTracker' or 'MaskIoUTracker', "
                             f"got {name!r}")
        if not i.TEST_SCALES or any(s <= 0 for s in i.TEST_SCALES):
            raise ValueError(f"MODEL.INSTFLOW.INFERENCE.TEST_SCALES: expected positive scales, got {list(i.TEST_SCALES)}")
        return cls(make, tuple(float(s) for s in i.TEST_SCALES), i.CENTER_THRESHOLD, i.NMS_KERNEL, i.TOP_K,
                   i.FLOW_MODE, i.FLOW_SAMPLE_STRIDE)


def _to_output(model, out: dict[str, torch.Tensor], padded: tuple[int, int], valid: tuple[int, int],
               size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Stride-4 maps -> padded input size -> crop the valid region -> output size (offsets in output pixels)."""
    up = model.upsample(out, padded)
    res = {}
    for k, v in up.items():
        v = F.interpolate(v[..., : valid[0], : valid[1]], size=size, mode="bilinear", align_corners=False)
        if k.startswith("off"):
            v = v * torch.tensor([size[0] / valid[0], size[1] / valid[1]], device=v.device).view(1, 2, 1, 1)
        res[k] = v
    res["sem"] = res["sem"].softmax(1)
    return res


def frame_maps(model, frame: torch.Tensor, pos: int, refs: list[int], memory: dict, settings: StreamSettings,
               size: tuple[int, int], use_inter: bool) -> dict[str, torch.Tensor]:
    """Scale-averaged maps of one frame at ``size``: ``sem`` (C, H, W) probabilities, ``center`` (H, W),
    ``off_t`` (2, H, W), ``off_r`` (len(refs), 2, H, W). Stores the frame's compacted features in ``memory``."""
    acc: dict[str, torch.Tensor] = {}
    for s in settings.scales:
        h, w = frame.shape[-2:]
        img = frame.to(model.device)
        if s != 1.0:
            img = F.interpolate(img[None].float(), size=(round(h * s), round(w * s)), mode="bilinear",
                                align_corners=False)[0]
        images = model.normalize([img])
        feats = model.backbone(images.tensor)
        out = model.intra(feats)
        if use_inter:
            a, q = model.compact(feats)
            memory.setdefault(pos, {})[s] = (a, q)
            if refs:
                n = len(refs)
                a_r = torch.cat([memory[r][s][0] for r in refs])
                q_r = torch.cat([memory[r][s][1] for r in refs])
                out["off_r"] = model.inter((a.expand(n, -1, -1, -1), q.expand(n, -1, -1, -1)), (a_r, q_r),
                                           feats["res2"])  # the target's res2 projection is shared by all refs
        maps = _to_output(model, out, tuple(images.tensor.shape[-2:]), tuple(images.image_sizes[0]), size)
        for k, v in maps.items():
            acc[k] = acc[k] + v if k in acc else v
    res = {k: v / len(settings.scales) for k, v in acc.items()}
    return {"sem": res["sem"][0], "center": res["center"][0, 0], "off_t": res["off_t"][0],
            "off_r": res.get("off_r")}


def frame_detections(maps: dict[str, torch.Tensor], refs: list[int], settings: StreamSettings) -> FlowDetections:
    """Grouping, per-instance statistics and warped centers of one frame (spec §5.2-5.3)."""
    prob = maps["sem"]
    fg = prob.argmax(0) != 0
    centers, values = find_centers(maps["center"], fg, threshold=settings.center_threshold,
                                   kernel=settings.nms_kernel, top_k=settings.top_k)
    ids, kept = group_pixels(centers, maps["off_t"], fg)
    centers, values = centers[kept], values[kept]
    m = len(kept)
    on = ids > 0
    mass = torch.zeros(m, prob.shape[0] - 1, dtype=torch.float64, device=prob.device)
    mass.index_add_(0, ids[on] - 1, prob[1:, on].T.double())
    warped = {}
    if maps.get("off_r") is not None and m:
        for j, r in enumerate(refs):
            warped[r] = instance_flow(ids, m, maps["off_t"], maps["off_r"][j], centers, stride=settings.flow_stride,
                                      mode=settings.flow_mode).cpu().numpy()
    masks = (ids[None] == torch.arange(1, m + 1, device=ids.device)[:, None, None]).cpu().numpy()
    return FlowDetections(masks=masks, centers=centers.cpu().numpy(), warped=warped, class_mass=mass.cpu().numpy(),
                          center_scores=values.double().cpu().numpy())


def track_video(model, video: dict, settings: StreamSettings, *, extra_trackers: list | None = None):
    """Whole video -> ``VideoInstances`` (or, with ``extra_trackers``, a list: the configured tracker's result then
    each extra tracker's, all fed the same per-frame instances)."""
    frames = video["image"]
    if len(frames) == 0:
        raise ValueError(f"InstanceFlowVIS: video {video.get('video_id')!r} has no frames")
    size = (int(video.get("height", frames[0].shape[-2])), int(video.get("width", frames[0].shape[-1])))
    frame_idx = [int(i) for i in video.get("frame_idx", range(len(frames)))]
    tracker = settings.make_tracker()
    trackers = [tracker, *(extra_trackers or [])]
    for t in trackers:
        t.reset()
    flow = next((t for t in trackers if isinstance(t, InstanceFlowTracker)), None)
    use_inter = flow is not None and model.inter_decoder is not None
    memory: dict[int, dict] = {}
    for pos, frame in enumerate(frames):
        refs = flow.reference_frames(pos) if use_inter else []
        maps = frame_maps(model, frame, pos, refs, memory, settings, size, use_inter)
        dets = frame_detections(maps, refs, settings)
        for t in trackers:
            t.update(frame_idx[pos], dets if isinstance(t, InstanceFlowTracker) else dets.to_frame_detections())
        if use_inter:
            keep = set(flow.reference_frames(pos + 1))
            for r in [r for r in memory if r not in keep]:
                del memory[r]
    results = [t.finalize() for t in trackers]
    return results if extra_trackers else results[0]
