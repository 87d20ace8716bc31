"""``python -m vidseg.data.verify``: an empty datasets root fails with one line per dataset naming what is
missing; the synthetic datasets and copies of them in the real layouts pass; a broken frame is named."""
import io
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from vidseg.data.datasets import ensure_synthetic
from vidseg.data.datasets.synthetic import synth_paths
from vidseg.data.verify import dataset_names, main

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def run(argv):
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue().splitlines()


def test_empty_root_fails_one_line_per_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    code, lines = run(["--all", "--no-frames"])
    assert code == 1
    names = dataset_names(synthetic=False)
    body = [ln for ln in lines if not ln.startswith("#")]
    assert len(body) == len(names) and all(ln.startswith("FAIL ") for ln in body)
    by_name = {ln.split()[1].rstrip(":"): ln for ln in body}
    assert set(by_name) == set(names)
    assert str(tmp_path / "ytvis_2019" / "train.json") in by_name["ytvis_2019_train"]
    assert str(tmp_path / "DAVIS") in by_name["davis_2017_val"]
    assert str(tmp_path / "FBMS" / "Testset") in by_name["fbms_59_test"]
    assert "kitti_mots" in by_name["kitti_mots_val"]


def test_synthetic_datasets_and_a_copy_in_the_davis_layout_pass(tmp_path, monkeypatch):
    code, lines = run(["synth_vis_val", "synth_vos_val", "synth_moseg_val", "synth_mots_val"])
    assert code == 0 and all(ln.startswith("ok ") for ln in lines[1:]), lines
    ensure_synthetic("vos", "val", "tiny")
    src = Path(synth_paths("vos", "val", "tiny")["gt_root"]).parents[1]  # <tree>/Annotations/480p -> <tree>
    shutil.copytree(src, tmp_path / "DAVIS")
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    code, lines = run(["davis_2017_val"])
    assert code == 0 and lines[1].startswith("ok   davis_2017_val: ")
    frame = sorted((tmp_path / "DAVIS" / "JPEGImages" / "480p").rglob("*.jpg"))[3]
    frame.write_bytes(b"not a jpeg")
    code, lines = run(["davis_2017_val", "--verbose"])
    assert code == 1 and lines[1].startswith("FAIL davis_2017_val: ") and str(frame) in lines[1]


def test_unknown_name_fails():
    code, lines = run(["no_such_dataset"])
    assert code == 1 and "not a registered dataset" in lines[1]
