"""Write rendered :class:`SynthVideo` lists as real-format dataset trees (read back by the real loaders)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vidseg.data.io.flo import write_flo
from vidseg.data.io.kitti_mots import write_kitti_mots_txt
from vidseg.data.io.png import davis_palette, write_indexed_png

from ..fbms import write_fbms_def
from .render import CLASS_NAMES, SynthVideo
from vidseg.structures.masks import encode_masks

JPEG_QUALITY = 92


def write_frame(path: Path, rgb: np.ndarray) -> None:
    """Write an H×W×3 RGB frame as JPEG or PNG (by suffix); parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]), params):
        raise OSError(f"{path}: OpenCV could not write the frame")


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE (column-major run lengths starting with a 0-run), as in YouTube-VIS jsons."""
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": runs}


def label_map(video: SynthVideo, t: int) -> np.ndarray:
    """H×W uint8: 0 background / distractor, k+1 where mover k is visible in frame t."""
    out = np.zeros(video.masks.shape[2:], dtype=np.uint8)
    for k in range(video.masks.shape[0]):
        out[video.masks[k, t]] = k + 1
    return out


def write_flows(flow_dir: Path, video: SynthVideo, stems: list[str]) -> None:
    """``<flow_dir>/<stem of frame t>.flo`` for t = 0..T-2."""
    for t in range(video.flows.shape[0]):
        write_flo(flow_dir / f"{stems[t]}.flo", video.flows[t])


def write_ytvis(out: Path, videos: list[SynthVideo]) -> None:
    """YouTube-VIS layout: ``JPEGImages/video_XXX/NNNNN.jpg`` + ``annotations.json`` (uncompressed RLEs)."""
    vids, anns = [], []
    for i, v in enumerate(videos):
        t, h, w = v.frames.shape[:3]
        names = [f"video_{i:03d}/{j:05d}.jpg" for j in range(t)]
        for j, name in enumerate(names):
            write_frame(out / "JPEGImages" / name, v.frames[j])
        vids.append({"id": i + 1, "width": w, "height": h, "length": t, "file_names": names})
        for k, cls in enumerate(v.classes):
            present = v.masks[k].reshape(t, -1).any(1)
            if not present.any():
                continue
            segs = [uncompressed_rle(v.masks[k, j]) if present[j] else None for j in range(t)]
            boxes = [_bbox(v.masks[k, j]) if present[j] else None for j in range(t)]
            areas = [int(v.masks[k, j].sum()) if present[j] else None for j in range(t)]
            anns.append({
                "id": len(anns) + 1, "video_id": i + 1, "category_id": cls + 1, "iscrowd": 0,
                "height": h, "width": w, "length": 1, "segmentations": segs, "bboxes": boxes, "areas": areas,
            })
    cats = [{"id": c + 1, "name": n, "supercategory": "shape"} for c, n in enumerate(CLASS_NAMES)]
    data = {"info": {"description": "vidseg synthetic"}, "licenses": [], "videos": vids, "categories": cats,
            "annotations": anns}
    (out / "annotations.json").write_text(json.dumps(data, sort_keys=True))


def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def write_davis(out: Path, videos: list[SynthVideo], *, split: str) -> None:
    """DAVIS-2017 layout: ``JPEGImages/480p/seq_XXX``, ``Annotations/480p/seq_XXX`` (indexed PNGs),
    ``ImageSets/2017/<split>.txt``."""
    seqs = []
    for i, v in enumerate(videos):
        seq = f"seq_{i:03d}"
        seqs.append(seq)
        for j in range(v.frames.shape[0]):
            write_frame(out / "JPEGImages" / "480p" / seq / f"{j:05d}.jpg", v.frames[j])
            write_indexed_png(out / "Annotations" / "480p" / seq / f"{j:05d}.png", label_map(v, j))
    lst = out / "ImageSets" / "2017" / f"{split}.txt"
    lst.parent.mkdir(parents=True, exist_ok=True)
    lst.write_text("\n".join(seqs) + "\n")


def fbms_color(region: int) -> int:
    """Colour code R*65536 + G*256 + B of FBMS region ``region`` (0 = black background)."""
    r, g, b = (int(x) for x in davis_palette()[region])
    return r * 65536 + g * 256 + b


def write_fbms(out: Path, videos: list[SynthVideo], *, split_dir: str, every: int) -> None:
    """FBMS layout under ``<out>/<split_dir>/seqXXX`` with GT (RGB ``.ppm`` region maps and a ``Def.dat`` in the
    official layout, movers only, class-agnostic)
    on every ``every``-th frame and the flow under ``<out>/flow/seqXXX``."""
    pal = davis_palette()
    for i, v in enumerate(videos):
        seq = f"seq{i:03d}"
        seq_dir = out / split_dir / seq
        t = v.frames.shape[0]
        stems = [f"{seq}_{j + 1:03d}" for j in range(t)]
        for j in range(t):
            write_frame(seq_dir / f"{stems[j]}.jpg", v.frames[j])
        (seq_dir / "GroundTruth").mkdir(parents=True, exist_ok=True)
        listed = []
        for j in range(0, t, every):
            gt_name = f"{stems[j]}_gt.ppm"  # RGB region maps as the FBMS package ships them
            Image.fromarray(pal[label_map(v, j)]).save(seq_dir / "GroundTruth" / gt_name)
            listed.append((j, gt_name, f"{stems[j]}.jpg"))
        colors = [fbms_color(r) for r in range(len(v.classes) + 1)]
        write_fbms_def(seq_dir / "GroundTruth" / f"{seq}Def.dat", colors=colors, num_frames=t, frames=listed)
        write_flows(out / "flow" / seq, v, stems)


def write_kitti_mots(out: Path, videos: list[SynthVideo]) -> None:
    """KITTI-MOTS layout: ``training/image_02/XXXX/NNNNNN.png`` + ``instances_txt/XXXX.txt``.

    Shape class c becomes KITTI class c+1 (square -> car, disk -> pedestrian), obj_id = class * 1000 + k + 1;
    the static distractor is written as the ignore region (obj_id 10000, class 10).
    """
    for i, v in enumerate(videos):
        seq = f"{i:04d}"
        frames: dict[int, list] = {}
        for j in range(v.frames.shape[0]):
            write_frame(out / "training" / "image_02" / seq / f"{j:06d}.png", v.frames[j])
            present = [k for k in range(len(v.classes)) if v.masks[k, j].any()]
            rles = encode_masks(v.masks[present, j]) if present else []
            entries = [((v.classes[k] + 1) * 1000 + k + 1, v.classes[k] + 1, r) for k, r in zip(present, rles)]
            if v.distractor_masks[j].any():
                entries.append((10000, 10, encode_masks(v.distractor_masks[j][None])[0]))
            if entries:
                frames[j] = entries
        write_kitti_mots_txt(out / "instances_txt" / f"{seq}.txt", frames)
