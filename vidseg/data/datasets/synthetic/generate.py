"""Synthetic datasets: presets, on-demand generation (file lock + atomic rename) and loading via real loaders.

Trees live under ``$VIDSEG_SYNTH_ROOT`` (default ``<system temp>/vidseg_synth_<VERSION>``), one folder
``<preset>_<task>_<split>`` each, written on first request and reused once complete (a ``DONE`` marker).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..davis import load_davis
from ..fbms import load_fbms
from ..kitti_mots import load_kitti_mots
from ..ytvis import load_ytvis_json
from .render import SynthVideo, render_video
from .writers import write_davis, write_fbms, write_kitti_mots, write_ytvis

VERSION = "v3"  # bump whenever rendering or writing changes, so cached trees are regenerated
SEED_TAG = "v2"  # part of the random seeds: changing it changes the videos themselves
DONE = "DONE"
TASKS = ("vis", "vos", "moseg", "mots")
SPLITS = ("train", "val")
FBMS_SPLIT_DIRS = {"train": "Trainingset", "val": "Testset"}
MOTION_MODES = ("bounce", "enter", "leave")  # first mover of video i uses MOTION_MODES[i % 3]


@dataclass(frozen=True, kw_only=True)
class SynthPreset:
    """Size of one synthetic split; ``fbms_every`` = FBMS annotation stride per split."""

    num_videos: dict[str, int]
    num_frames: int
    height: int
    width: int
    fbms_every: dict[str, int]


PRESETS = {
    "tiny": SynthPreset(num_videos={"train": 6, "val": 4}, num_frames=8, height=64, width=96,
                        fbms_every={"train": 1, "val": 3}),
    "large": SynthPreset(num_videos={"train": 60, "val": 12}, num_frames=24, height=192, width=320,
                         fbms_every={"train": 1, "val": 3}),
}
# per task: shape classes the movers are drawn from and the distractor look
TASK_SCENES = {
    "vis": {"classes": (0, 1, 2), "distractor": "neutral"},
    "vos": {"classes": (0, 1, 2), "distractor": "neutral"},
    "moseg": {"classes": (0, 1, 2), "distractor": "class"},  # same-looking static and moving objects
    "mots": {"classes": (0, 1), "distractor": "neutral"},  # 2 classes (car, pedestrian); distractor = ignore
}


def synth_root() -> Path:
    """``$VIDSEG_SYNTH_ROOT`` at call time, default ``<tempdir>/vidseg_synth_<VERSION>``."""
    return Path(os.environ.get("VIDSEG_SYNTH_ROOT") or Path(tempfile.gettempdir()) / f"vidseg_synth_{VERSION}")


def synth_dir(task: str, split: str, preset: str) -> Path:
    """Folder of one synthetic split (it may not exist yet)."""
    return synth_root() / f"{preset}_{task}_{split}"


def render_split(task: str, split: str, preset: str) -> list[SynthVideo]:
    """Render every video of a split; train and val (and each task) use different seeds."""
    if task not in TASK_SCENES or split not in SPLITS or preset not in PRESETS:
        raise ValueError(f"synthetic data: unknown task/split/preset {task!r}/{split!r}/{preset!r}; "
                         f"expected one of {TASKS} / {SPLITS} / {tuple(PRESETS)}")
    p = PRESETS[preset]
    base = (zlib.crc32(f"{SEED_TAG}/{task}".encode()), SPLITS.index(split))
    return [
        render_video(
            base + (i,), num_frames=p.num_frames, height=p.height, width=p.width,
            motion_mode=MOTION_MODES[i % len(MOTION_MODES)], **TASK_SCENES[task],
        )
        for i in range(p.num_videos[split])
    ]


def write_split(out: Path, task: str, split: str, preset: str) -> None:
    """Render and write one split in its real format into ``out``."""
    videos = render_split(task, split, preset)
    if task == "vis":
        write_ytvis(out, videos)
    elif task == "vos":
        write_davis(out, videos, split=split)
    elif task == "moseg":
        write_fbms(out, videos, split_dir=FBMS_SPLIT_DIRS[split], every=PRESETS[preset].fbms_every[split])
    else:
        write_kitti_mots(out, videos)


def ensure_synthetic(task: str, split: str, preset: str = "tiny") -> Path:
    """Return the folder of a complete synthetic split, generating it first when needed.

    Safe when several processes ask at once: they serialise on a lock file, the first writes into a
    temporary folder that is renamed into place (atomic), the others then find the ``DONE`` marker.
    """
    target = synth_dir(task, split, preset)
    if (target / DONE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (target / DONE).is_file():
                return target
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp"))
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the tree is shared through the temp dir
            try:
                write_split(tmp, task, split, preset)
                (tmp / DONE).write_text(VERSION + "\n")
                if target.exists():  # an incomplete tree left by a killed process
                    shutil.rmtree(target)
                os.rename(tmp, target)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def synth_paths(task: str, split: str, preset: str) -> dict[str, str]:
    """Metadata paths (``json_file`` / ``gt_root`` / ``image_root`` / ``flow_root``) of a synthetic split."""
    d = synth_dir(task, split, preset)
    if task == "vis":
        return {"json_file": str(d / "annotations.json"), "image_root": str(d / "JPEGImages")}
    if task == "vos":
        return {"gt_root": str(d / "Annotations" / "480p"), "image_root": str(d / "JPEGImages" / "480p")}
    if task == "moseg":
        split_dir = str(d / FBMS_SPLIT_DIRS[split])
        return {"gt_root": split_dir, "image_root": split_dir, "flow_root": str(d / "flow")}
    return {"gt_root": str(d / "instances_txt"), "image_root": str(d / "training" / "image_02")}


def load_synthetic(task: str, split: str, preset: str = "tiny", dataset_name: str | None = None) -> list[dict]:
    """Generate (if needed) and load a synthetic split through the real loader of its format."""
    d = ensure_synthetic(task, split, preset)
    if task == "vis":
        return load_ytvis_json(d / "annotations.json", d / "JPEGImages", dataset_name, require_annotations=True)
    if task == "vos":
        return load_davis(d, year=2017, split=split, dataset_name=dataset_name, require_annotations=True,
                          late_objects=True)
    if task == "moseg":
        return load_fbms(d, split=FBMS_SPLIT_DIRS[split], dataset_name=dataset_name, flow_root=d / "flow")
    seqs = sorted(p.stem for p in (d / "instances_txt").glob("*.txt"))
    return load_kitti_mots(d, sequences=seqs, dataset_name=dataset_name)
