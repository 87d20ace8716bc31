"""Instance-flow assembly (method spec §5.4-5.5; paper §III-C.2-4) as a ``vidseg.tracking.Tracker``.

Each frame's instances carry their warped centers ``ĉ_m^R`` in every reference frame R the tracker asked for
(:meth:`InstanceFlowTracker.reference_frames`: the first frame and the previous ``num_adjacent`` frames). An
instance inherits the id of the track whose center in some reference is nearest to its warped center there
(``D(m, τ) = min_R min_{n∈R, τ_n=τ} ‖ĉ_m^R − c_n^R‖``), if ``D < ε``; conflicts are resolved greedily by ascending
D; every other instance starts a track. Only the centers and ids of the reference frames are kept (memory flat
in video length, apart from the output masks). Class = argmax of the accumulated class-probability mass; score =
mean class probability × mean center peak (``score_mode`` picks one factor for the Table VI ablation).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from detectron2.config import CfgNode, configurable

from vidseg.registry import TRACKER_REGISTRY
from vidseg.structures.masks import encode_mask, to_json_rle
from vidseg.structures.video_instances import VideoInstances
from vidseg.tracking import FrameDetections, Tracker

from .config import SCORE_MODES, THRESHOLD_MODES


@dataclass(kw_only=True)
class FlowDetections:
    """Instances of one frame. ``masks`` N×H×W bool; ``centers`` (N, 2) (y, x) detected centers; ``warped``
    {reference position: (N, 2) warped centers in that frame}; ``class_mass`` (N, K) summed class probabilities
    over the instance's pixels (background excluded); ``areas`` (N,) pixel counts; ``center_scores`` (N,)."""

    masks: np.ndarray
    centers: np.ndarray
    warped: dict[int, np.ndarray] = field(default_factory=dict)
    class_mass: np.ndarray | None = None
    areas: np.ndarray | None = None
    center_scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.masks = np.asarray(self.masks, dtype=bool)
        if self.masks.ndim != 3:
            raise ValueError(f"FlowDetections.masks: expected an N×H×W array, got shape {self.masks.shape}")
        n = len(self.masks)
        self.centers = np.asarray(self.centers, dtype=np.float64).reshape(n, 2)
        self.warped = {int(r): np.asarray(c, dtype=np.float64).reshape(n, 2) for r, c in self.warped.items()}
        self.areas = self.masks.sum(axis=(1, 2)).astype(np.float64) if self.areas is None else np.asarray(
            self.areas, dtype=np.float64)
        self.class_mass = np.asarray(self.areas[:, None] if self.class_mass is None else self.class_mass, np.float64)
        self.center_scores = np.ones(n) if self.center_scores is None else np.asarray(self.center_scores, np.float64)

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.masks.shape[1:])

    def frame_scores(self) -> np.ndarray:
        """Per instance: mean probability of its top class × center peak, clipped to [0, 1]."""
        return np.clip(self.class_mass.max(1) / np.maximum(self.areas, 1) * self.center_scores, 0.0, 1.0)

    def to_frame_detections(self) -> FrameDetections:
        """The same instances for a mask tracker (scores :meth:`frame_scores`, labels = top class)."""
        labels = self.class_mass.argmax(1) if len(self) else np.zeros(0, dtype=np.int64)
        return FrameDetections(masks=self.masks, scores=self.frame_scores(), labels=labels,
                               image_size=self.image_size)


@TRACKER_REGISTRY.register()
class InstanceFlowTracker(Tracker):
    """``update(frame_idx, FlowDetections) -> ids``; ``finalize() -> VideoInstances``."""

    @configurable
    def __init__(self, *, use_first_frame: bool = True, num_adjacent: int = 3, match_threshold: float = 0.1,
                 threshold_mode: str = "diag_fraction", score_mode: str = "product", max_tracks: int = 100) -> None:
        if threshold_mode not in THRESHOLD_MODES or score_mode not in SCORE_MODES:
            raise ValueError(f"MODEL.INSTFLOW.INFERENCE: MATCH_THRESHOLD_MODE in {THRESHOLD_MODES} and SCORE_MODE in "
                             f"{SCORE_MODES} expected, got {threshold_mode!r} / {score_mode!r}")
        if num_adjacent < 0 or (num_adjacent == 0 and not use_first_frame):
            raise ValueError("MODEL.INSTFLOW.INFERENCE: NUM_ADJACENT_REFS >= 0 and at least one reference expected")
        self.use_first_frame, self.num_adjacent = bool(use_first_frame), int(num_adjacent)
        self.match_threshold, self.threshold_mode = float(match_threshold), threshold_mode
        self.score_mode, self.max_tracks = score_mode, int(max_tracks)
        self.reset()

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        i = cfg.MODEL.INSTFLOW.INFERENCE
        return {"use_first_frame": i.USE_FIRST_FRAME_REF, "num_adjacent": i.NUM_ADJACENT_REFS,
                "match_threshold": i.MATCH_THRESHOLD, "threshold_mode": i.MATCH_THRESHOLD_MODE,
                "score_mode": i.SCORE_MODE, "max_tracks": i.MAX_TRACKS_PER_VIDEO}

    def reset(self) -> None:
        self._t = 0
        self._frame_idx: list[int] = []
        self._size: tuple[int, int] | None = None
        self._refs: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # position -> (centers, ids)
        self._tracks: list[dict] = []

    def reference_frames(self, t: int | None = None) -> list[int]:
        """Positions (0-based, in update order) of the references of frame ``t`` (default: the next frame)."""
        t = self._t if t is None else t
        refs = [0] if self.use_first_frame and t > 0 else []
        refs += [r for r in range(t - 1, t - 1 - self.num_adjacent, -1) if r >= 0 and r not in refs]
        return refs

    def epsilon(self, size: tuple[int, int]) -> float:
        if self.threshold_mode == "pixels":
            return self.match_threshold
        return self.match_threshold * float(np.hypot(*size))

    def distances(self, dets: FlowDetections) -> tuple[np.ndarray, list[int]]:
        """``D`` (N × tracks seen in a reference) and those track indices."""
        best: dict[int, np.ndarray] = {}
        for r in self.reference_frames():
            if r not in self._refs or r not in dets.warped:
                continue
            centers, ids = self._refs[r]
            if not len(ids):
                continue
            d = np.linalg.norm(dets.warped[r][:, None, :] - centers[None, :, :], axis=-1)
            for j, tid in enumerate(ids):
                best[int(tid)] = np.minimum(best.get(int(tid), np.inf), d[:, j])
        tids = sorted(best)
        mat = np.stack([best[k] for k in tids], 1) if tids else np.zeros((len(dets), 0))
        return mat, tids

    def update(self, frame_idx: int, candidates: FlowDetections) -> list[int]:
        if self._size is None:
            self._size = candidates.image_size
        elif candidates.image_size != self._size:
            raise ValueError(f"InstanceFlowTracker: frame {frame_idx} is {candidates.image_size}, earlier frames "
                             f"{self._size}")
        dist, tids = self.distances(candidates)
        eps = self.epsilon(self._size)
        out = [0] * len(candidates)
        used: set[int] = set()
        for flat in np.argsort(dist, axis=None, kind="stable"):
            m, j = np.unravel_index(flat, dist.shape)
            if dist[m, j] >= eps:
                break
            if out[m] == 0 and tids[j] not in used:
                out[m] = tids[j]
                used.add(tids[j])
        for m in range(len(candidates)):
            if out[m] == 0:
                self._tracks.append({"mass": 0.0, "area": 0.0, "center": 0.0, "n": 0, "masks": {}})
                out[m] = len(self._tracks)
            tr = self._tracks[out[m] - 1]
            tr["mass"] = tr["mass"] + candidates.class_mass[m]
            tr["area"] += candidates.areas[m]
            tr["center"] += candidates.center_scores[m]
            tr["n"] += 1
            tr["masks"][self._t] = encode_mask(candidates.masks[m])
        self._refs[self._t] = (candidates.centers.copy(), np.asarray(out, dtype=np.int64))
        self._frame_idx.append(int(frame_idx))
        self._t += 1
        keep = set(self.reference_frames())
        self._refs = {r: v for r, v in self._refs.items() if r in keep}
        return out

    def finalize(self) -> VideoInstances:
        if self._size is None:
            raise ValueError("InstanceFlowTracker: got 0 frames; expected at least one FlowDetections")
        scores, labels, masks = [], [], []
        for tr in self._tracks:
            label = int(np.argmax(tr["mass"]))
            sem = float(tr["mass"][label] / max(tr["area"], 1.0))
            cen = tr["center"] / max(tr["n"], 1)
            score = {"product": sem * cen, "semantic": sem, "center": cen}[self.score_mode]
            scores.append(float(np.clip(score, 0.0, 1.0)))
            labels.append(label)
            masks.append([to_json_rle(tr["masks"][t]) if t in tr["masks"] else None for t in range(self._t)])
        order = sorted(range(len(scores)), key=lambda k: -scores[k])[: self.max_tracks]
        order.sort()
        out = VideoInstances(image_size=self._size, frame_idx=self._frame_idx,
                             track_ids=list(range(1, len(order) + 1)), scores=[scores[k] for k in order],
                             labels=[labels[k] for k in order], masks=[masks[k] for k in order])
        self.reset()
        return out
