"""``datasets/prepare_*.py`` on hand-written fixtures: outputs, idempotence (a second run changes nothing) and
one-line errors."""
import importlib.util
import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidseg.data.datasets.kitti_mots import KITTI_MOTS_SPLITS
from vidseg.data.io import read_indexed_png

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"


def script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "datasets" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(mod, argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = mod.main(argv)
    return code, out.getvalue(), err.getvalue()


def _frames(folder, names, h, w):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(folder / n)


def test_prepare_fbms_label_pngs(tmp_path):
    for seq, n in (("ppmseq", 4), ("pgmseq", 2)):
        shutil.copytree(FIX / "fbms" / seq, tmp_path / "FBMS" / "Testset" / seq)
        _frames(tmp_path / "FBMS" / "Testset" / seq, [f"{seq}_{i:02d}.jpg" for i in range(1, n + 1)], 3, 4)
    mod = script("prepare_fbms")
    code, out, _ = run(mod, ["--root", str(tmp_path / "FBMS"), "--split", "Testset"])
    assert code == 0 and "3 label PNGs written" in out
    labels = tmp_path / "FBMS" / "labels" / "Testset"
    np.testing.assert_array_equal(read_indexed_png(labels / "ppmseq" / "ppmseq_01.png"),
                                  [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 2, 2]])
    np.testing.assert_array_equal(read_indexed_png(labels / "pgmseq" / "pgmseq_02.png"),
                                  [[0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0]])
    code, out, _ = run(mod, ["--root", str(tmp_path / "FBMS"), "--split", "Testset"])
    assert code == 0 and "0 label PNGs written, 3 up to date" in out
    code, _, err = run(mod, ["--root", str(tmp_path / "FBMS"), "--split", "Trainingset"])
    assert code == 2 and "Trainingset" in err and len(err.strip().splitlines()) == 1


def test_prepare_kitti_mots_splits(tmp_path):
    txt = tmp_path / "instances_txt"
    txt.mkdir()
    for seqs in KITTI_MOTS_SPLITS.values():
        for s in seqs:
            shutil.copy(FIX / "kitti_mots" / "0002.txt", txt / f"{s}.txt")
    mod = script("prepare_kitti_mots")
    code, out, _ = run(mod, ["--root", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "splits" / "val.txt").read_text().split() == KITTI_MOTS_SPLITS["val"]
    assert sorted(p.stem for p in (tmp_path / "gt_val").glob("*.txt")) == sorted(KITTI_MOTS_SPLITS["val"])
    code, out, _ = run(mod, ["--root", str(tmp_path)])
    assert "val: 0 files written" in out and "train: 0 files written" in out
    (txt / "0013.txt").unlink()
    code, _, err = run(mod, ["--root", str(tmp_path)])
    assert code == 2 and "0013.txt" in err


def test_prepare_ytvos_frame_lists(tmp_path):
    split = tmp_path / "valid"
    split.mkdir()
    shutil.copy(FIX / "ytvos" / "meta.json", split / "meta.json")
    _frames(split / "JPEGImages" / "0a7b27fde9", ["00000.jpg", "00005.jpg", "00010.jpg"], 4, 4)
    _frames(tmp_path / "valid_all_frames" / "JPEGImages" / "0a7b27fde9", [f"{i:05d}.jpg" for i in range(11)], 4, 4)
    mod = script("prepare_ytvos")
    code, out, _ = run(mod, ["--root", str(tmp_path), "--split", "valid"])
    assert code == 0 and "written" in out
    lists = json.loads((split / "frame_lists.json").read_text())
    assert lists["annotated"]["0a7b27fde9"] == ["00000", "00005", "00010"]
    assert len(lists["all"]["0a7b27fde9"]) == 11
    code, out, _ = run(mod, ["--root", str(tmp_path), "--split", "valid"])
    assert "up to date" in out
    (split / "JPEGImages" / "0a7b27fde9" / "00010.jpg").unlink()
    code, _, err = run(mod, ["--root", str(tmp_path), "--split", "valid"])
    assert code == 2 and "00010.jpg" in err
