"""Videos, oracles and metrics of the IFR consistency experiment (``benchmarks/ifr_consistency.py``).

Each video holds 3–4 objects of one class. Every object is a rectangle with its own constant texture (two colours
in a stripe / checker / diagonal pattern that moves with it), crossing the frame on a straight line through a
point near the centre, so objects enter and leave the frame and pass over one another (a fixed depth order per
video: the upper object partially occludes the lower). The ``identical`` control set gives every object of a video
the same texture, so identities can only be kept from motion. Written in YouTube-VIS format and read back through
the real loader.

Oracle rows: ``perfect`` outputs the ground-truth tracks; ``swap`` outputs pixel-perfect masks but exchanges the
identities of two objects each time their unoccluded rectangles start to overlap (a tracker that swaps at every
crossing).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from scipy.optimize import linear_sum_assignment

from vidseg.data.datasets.synthetic import CLASS_NAMES, SynthVideo
from vidseg.data.datasets.synthetic.writers import write_ytvis
from vidseg.data.datasets.ytvis import load_ytvis_json
from vidseg.structures.masks import decode_mask
from vidseg.structures.video_instances import VideoInstances

PATTERNS = ("h_stripes", "v_stripes", "checker", "diagonal")


def _texture(kind: str, period: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """0/1 pattern at object-relative coordinates (u, v)."""
    a, b = np.floor(u / period).astype(int), np.floor(v / period).astype(int)
    if kind == "h_stripes":
        return b % 2
    if kind == "v_stripes":
        return a % 2
    if kind == "checker":
        return (a + b) % 2
    return np.floor((u + v) / period).astype(int) % 2


def _appearance(rng: np.random.Generator) -> tuple:
    c0, c1 = rng.uniform(20, 235, size=3), rng.uniform(20, 235, size=3)
    while np.abs(c0 - c1).sum() < 150:  # the two colours of a pattern are far apart
        c1 = rng.uniform(20, 235, size=3)
    return PATTERNS[rng.integers(len(PATTERNS))], int(rng.integers(3, 6)), c0, c1


def crossing_video(rng: np.random.Generator, *, identical: bool, size: int, length: int
                   ) -> tuple[SynthVideo, np.ndarray]:
    """One video and the K×T×4 unoccluded rectangles (x0, y0, x1, y1) of its objects."""
    k = int(rng.integers(3, 5))
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    grey = np.kron(rng.uniform(70, 140, size=(size // 8, size // 8)), np.ones((8, 8)))[..., None]
    background = grey + rng.normal(0, 6, size=(size, size, 3))
    shared = _appearance(rng)
    objects = []
    for _ in range(k):
        half = rng.uniform(5.0, 8.0, size=2)
        through = size / 2 + rng.uniform(-0.15, 0.15, size=2) * size
        t_cross = rng.uniform(0.3, 0.7) * (length - 1)
        angle = rng.uniform(0, 2 * np.pi)
        velocity = rng.uniform(2.0, 3.5) * np.array([np.cos(angle), np.sin(angle)])
        objects.append((half, through, t_cross, velocity, shared if identical else _appearance(rng)))
    order = rng.permutation(k)  # painted in this order: later ones occlude earlier ones
    frames = np.zeros((length, size, size, 3), np.uint8)
    masks = np.zeros((k, length, size, size), bool)
    rects = np.zeros((k, length, 4))
    for t in range(length):
        img = background.copy()
        covered = np.zeros((size, size), bool)
        for j in order[::-1]:  # top-most first, so visible masks are disjoint
            half, through, t_cross, velocity, (kind, period, c0, c1) = objects[j]
            c = through + velocity * (t - t_cross)
            rects[j, t] = [c[0] - half[0], c[1] - half[1], c[0] + half[0], c[1] + half[1]]
            inside = (np.abs(xs - c[0]) <= half[0]) & (np.abs(ys - c[1]) <= half[1])
            masks[j, t] = inside & ~covered
            pattern = _texture(kind, period, xs - c[0] + half[0], ys - c[1] + half[1])[..., None]
            img = np.where(masks[j, t][..., None], np.where(pattern == 1, c1, c0), img)
            covered |= inside
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    video = SynthVideo(frames=frames, masks=masks, classes=[0] * k,
                       flows=np.zeros((length - 1, size, size, 2), np.float32),
                       distractor_masks=np.zeros((length, size, size), bool), distractor_class=-1)
    return video, rects


def make_split(seed: int, num: int, *, identical: bool, size: int, length: int) -> list[tuple[SynthVideo, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [crossing_video(rng, identical=identical, size=size, length=length) for _ in range(num)]


def register(name: str, folder: Path, videos: list[tuple[SynthVideo, np.ndarray]]) -> None:
    """Write (once) and register a YouTube-VIS dataset ``name`` of the videos."""
    if not (folder / "annotations.json").is_file():
        write_ytvis(folder, [v for v, _ in videos])
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    json_file, image_root = folder / "annotations.json", folder / "JPEGImages"
    DatasetCatalog.register(name, lambda: load_ytvis_json(json_file, image_root, name, require_annotations=True))
    MetadataCatalog.get(name).set(
        evaluator_type="YTVISEvaluator", task="vis", thing_classes=list(CLASS_NAMES), has_gt=True,
        thing_dataset_id_to_contiguous_id={i + 1: i for i in range(len(CLASS_NAMES))},
        json_file=str(json_file), image_root=str(image_root),
    )


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def oracle_predictions(videos: list[tuple[SynthVideo, np.ndarray]], records: list[dict], swap: bool
                       ) -> dict:
    """{video_id: VideoInstances}: the ground truth, identities exchanged at every crossing if ``swap``."""
    out = {}
    for (video, rects), rec in zip(videos, records):
        k, length = video.masks.shape[:2]
        owner = list(range(k))  # owner[track] = object shown by that track
        tracks = np.zeros_like(video.masks)
        for t in range(length):
            if swap and t > 0:
                for a in range(k):
                    for b in range(a + 1, k):
                        if _overlap(rects[a, t], rects[b, t]) and not _overlap(rects[a, t - 1], rects[b, t - 1]):
                            ta, tb = owner.index(a), owner.index(b)
                            owner[ta], owner[tb] = b, a
            for tr in range(k):
                tracks[tr, t] = video.masks[owner[tr], t]
        keep = [tr for tr in range(k) if tracks[tr].any()]
        out[rec["video_id"]] = VideoInstances.from_dense(tracks[keep], [1.0] * len(keep), [0] * len(keep))
    return out


def per_frame_miou(records: list[dict], predictions: dict) -> float:
    """Identity-agnostic segmentation quality: in every frame, visible ground-truth objects are matched one-to-one
    (Hungarian, max IoU) to the masks of all output tracks; mean IoU over ground-truth object-frames (0 if
    unmatched)."""
    total, count = 0.0, 0
    for rec in records:
        vi = predictions.get(rec["video_id"])
        tracks = [] if vi is None else [vi.dense(i) for i in range(len(vi))]
        for t, anns in enumerate(rec["annotations"]):
            gts = [decode_mask(a["segmentation"]) for a in anns if a.get("segmentation") is not None]
            gts = [g for g in gts if g.any()]
            if not gts:
                continue
            count += len(gts)
            preds = [tr[t] for tr in tracks if tr[t].any()]
            if not preds:
                continue
            g = np.stack(gts).reshape(len(gts), -1).astype(np.float32)
            p = np.stack(preds).reshape(len(preds), -1).astype(np.float32)
            inter = g @ p.T
            iou = inter / (g.sum(1)[:, None] + p.sum(1)[None] - inter)
            rows, cols = linear_sum_assignment(-iou)
            total += float(iou[rows, cols].sum())
    return total / max(count, 1)
