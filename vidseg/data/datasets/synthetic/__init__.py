"""Built-in synthetic video data written in real dataset formats (see :mod:`.generate`)."""
from .generate import (
    PRESETS,
    TASKS,
    VERSION,
    SynthPreset,
    ensure_synthetic,
    load_synthetic,
    render_split,
    synth_dir,
    synth_paths,
    synth_root,
    write_split,
)
from .render import CLASS_NAMES, SynthVideo, render_video

__all__ = [
    "PRESETS",
    "TASKS",
    "VERSION",
    "SynthPreset",
    "ensure_synthetic",
    "load_synthetic",
    "render_split",
    "synth_dir",
    "synth_paths",
    "synth_root",
    "write_split",
    "CLASS_NAMES",
    "SynthVideo",
    "render_video",
]
