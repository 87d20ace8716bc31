"""Item 3: cached DAVIS / YouTube-VOS records follow edits of single files; ``--no-cache`` / ``VIDSEG_NO_CACHE``."""
import json
import os

import numpy as np
from PIL import Image
from reliability_testutils import args

import train_net
from vidseg.data.datasets.common import NO_CACHE_ENV, cache_dir
from vidseg.data.datasets.davis import load_davis
from vidseg.data.datasets.ytvos import load_ytvos
from vidseg.data.io import write_indexed_png

H, W = 8, 10


def _labels():
    lab = np.zeros((H, W), np.uint8)
    lab[1:4, 2:6] = 1
    return lab


def _video(images, annotations, n=2):
    for t in range(n):
        images.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(images / f"{t:05d}.jpg")
        write_indexed_png(annotations / f"{t:05d}.png", _labels())


def _blank_in_place(png, folder):
    """Overwrite a PNG with an all-background one, keeping the folder's mtime (an in-place edit)."""
    st = os.stat(folder)
    write_indexed_png(png, np.zeros((H, W), np.uint8))
    os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(folder).st_mtime_ns == st.st_mtime_ns


def test_davis_blanked_png_is_seen(tmp_path):
    root, cache = tmp_path / "DAVIS", tmp_path / "cache"
    _video(root / "JPEGImages" / "480p" / "bear", root / "Annotations" / "480p" / "bear")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("bear\n")
    assert [len(a) for a in load_davis(root, year=2017, split="val", cache=cache)[0]["annotations"]] == [1, 1]
    _blank_in_place(root / "Annotations" / "480p" / "bear" / "00001.png", root / "Annotations" / "480p" / "bear")
    assert [len(a) for a in load_davis(root, year=2017, split="val", cache=cache)[0]["annotations"]] == [1, 0]


def test_ytvos_blanked_png_is_seen(tmp_path):
    root, cache = tmp_path / "ytvos", tmp_path / "cache"
    _video(root / "train" / "JPEGImages" / "a", root / "train" / "Annotations" / "a")
    (root / "train" / "meta.json").write_text(json.dumps(
        {"videos": {"a": {"objects": {"1": {"category": "ape", "frames": ["00000", "00001"]}}}}}))
    first = load_ytvos(root, split="train", cache=cache)[0]
    assert [len(a or []) for a in first["annotations"]] == [1, 1]
    _blank_in_place(root / "train" / "Annotations" / "a" / "00000.png", root / "train" / "Annotations" / "a")
    again = load_ytvos(root, split="train", cache=cache)[0]
    assert [len(a or []) for a in again["annotations"]] == [0, 1]


def test_no_cache_env_and_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSEG_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv(NO_CACHE_ENV, raising=False)
    assert cache_dir() == tmp_path / "c"
    monkeypatch.setenv(NO_CACHE_ENV, "1")
    assert cache_dir() is None
    monkeypatch.setenv(NO_CACHE_ENV, "0")  # restored after the test
    assert cache_dir() is not None
    parsed = args("--no-cache", opts=["SOLVER.MAX_ITER", "-1", "OUTPUT_DIR", tmp_path / "o"])
    try:
        train_net.main(parsed)
    except SystemExit:
        pass
    assert os.environ.get(NO_CACHE_ENV) == "1" and cache_dir() is None
