"""ISVOS through ``train_net.py``: tiny training + ``--eval-only`` J&F on synthetic VOS; folder mode (users' own
videos registered by ``register_vos_folder``) round trip to palette PNGs the DAVIS evaluator scores; bad input
errors naming the file; the config tree (ablations are <= 3-key overrides)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from detectron2.engine import default_argument_parser
from PIL import Image

import train_net
from isvos_testutils import square_clip
from vidseg.config import load_config
from vidseg.data.datasets.custom import register_vos_folder
from vidseg.data.io.errors import DatasetFormatError
from vidseg.data.io.png import davis_palette, read_indexed_png, write_indexed_png
from vidseg.evaluation.cli import run_vos

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[3]
TINY = str(ROOT / "configs" / "tests" / "isvos.yaml")


def _flatten(node, prefix=""):
    out = {}
    for k, v in node.items():
        out.update(_flatten(v, f"{prefix}{k}.") if hasattr(v, "items") else {f"{prefix}{k}": v})
    return out


def test_config_tree_and_ablations():
    names = {p.name for p in (ROOT / "configs" / "isvos").glob("*.yaml")}
    assert {"base.yaml", "r50_static.yaml", "r50.yaml", "r50_ytvos.yaml", "ablation_no_qe.yaml",
            "ablation_no_mpf.yaml", "ablation_no_topk.yaml"} <= names
    r50 = _flatten(load_config(str(ROOT / "configs" / "isvos" / "r50.yaml")))
    for path in (ROOT / "configs" / "isvos").glob("ablation_*.yaml"):
        diff = {k for k, v in _flatten(load_config(str(path))).items() if r50[k] != v}
        assert 1 <= len(diff) <= 3, (path.name, diff)


def test_train_then_eval_only_reports_jf(tmp_path):
    out = tmp_path / "run"
    train_net.main(default_argument_parser().parse_args(["--config-file", TINY, "OUTPUT_DIR", str(out)]))
    assert (out / "model_final.pth").is_file()
    args = ["--config-file", TINY, "--eval-only", "OUTPUT_DIR", str(out), "MODEL.WEIGHTS", str(out / "model_final.pth")]
    results = train_net.main(default_argument_parser().parse_args(args))
    metrics = results["vos"]
    assert {"J&F-Mean", "J-Mean", "F-Mean", "G"} <= set(metrics)
    assert 0.0 <= metrics["J&F-Mean"] <= 1.0
    assert list((out / "inference").rglob("submission.zip"))


def write_folder(root: Path, *, t: int = 5, first_only: bool = True, name: str = "vid0") -> list[np.ndarray]:
    """A synthetic 2-object video as JPEGs + palette PNGs (only the first one when ``first_only``); returns the
    label maps."""
    clip = square_clip(t=t, k=2, h=64, w=96)
    (root / "JPEGImages" / name).mkdir(parents=True)
    (root / "Annotations" / name).mkdir(parents=True)
    labels = []
    for f, (img, inst) in enumerate(zip(clip["image"], clip["instances"])):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(root / "JPEGImages" / name / f"{f:05d}.jpg", quality=95)
        m = inst.gt_masks.tensor.numpy()
        lab = (m * np.arange(1, 3)[:, None, None]).max(0).astype(np.uint8)
        labels.append(lab)
        if f == 0 or not first_only:
            write_indexed_png(root / "Annotations" / name / f"{f:05d}.png", lab)
    return labels


def test_folder_mode_round_trip(tmp_path):
    src, gt = tmp_path / "mine", tmp_path / "gt"
    write_folder(src)
    write_folder(gt, first_only=False)
    register_vos_folder("isvos_test_folder", src, has_gt=False)
    out = tmp_path / "out"
    args = ["--config-file", TINY, "--eval-only", "OUTPUT_DIR", str(out), "DATASETS.TEST", "('isvos_test_folder',)"]
    train_net.main(default_argument_parser().parse_args(args))
    pred = out / "inference" / "isvos_test_folder" / "Annotations"
    pngs = sorted((pred / "vid0").glob("*.png"))
    assert [p.name for p in pngs] == [f"{f:05d}.png" for f in range(5)]
    with Image.open(pngs[0]) as im:
        assert im.mode == "P" and np.array_equal(np.array(im.getpalette()[:9]).reshape(3, 3), davis_palette()[:3])
    assert np.array_equal(read_indexed_png(pngs[0]), read_indexed_png(gt / "Annotations" / "vid0" / "00000.png"))
    metrics, _ = run_vos(argparse.Namespace(gt=str(gt / "Annotations"), pred=str(pred), protocol="davis", workers=1))
    assert 0.0 <= metrics["J&F-Mean"] <= 1.0


@pytest.mark.parametrize("problem", ["missing_first", "mask_size", "frame_size"])
def test_folder_bad_input_names_the_file(tmp_path, problem):
    write_folder(tmp_path)
    seq_img, seq_ann = tmp_path / "JPEGImages" / "vid0", tmp_path / "Annotations" / "vid0"
    if problem == "missing_first":
        (seq_ann / "00000.png").unlink()
        write_indexed_png(seq_ann / "00002.png", np.zeros((64, 96), np.uint8))
        culprit = seq_ann / "00000.png"
    elif problem == "mask_size":
        write_indexed_png(seq_ann / "00000.png", np.zeros((48, 96), np.uint8))
        culprit = seq_ann / "00000.png"
    else:
        Image.new("RGB", (90, 64)).save(seq_img / "00003.jpg")
        culprit = seq_img / "00003.jpg"
    name = f"isvos_bad_{problem}"
    register_vos_folder(name, tmp_path, has_gt=False)
    from detectron2.data import DatasetCatalog

    with pytest.raises(DatasetFormatError, match=str(culprit)):
        DatasetCatalog.get(name)


def test_palette_ids_above_object_limit(tmp_path):
    write_folder(tmp_path)
    register_vos_folder("isvos_too_many", tmp_path, has_gt=False)
    out = tmp_path / "out"
    args = ["--config-file", TINY, "--eval-only", "OUTPUT_DIR", str(out), "DATASETS.TEST", "('isvos_too_many',)",
            "TEST.VOS.MAX_OBJECTS", "1"]
    with pytest.raises(SystemExit) as e:
        train_net.main(default_argument_parser().parse_args(args))
    assert e.value.code == 2
    assert not list(out.rglob("*.png"))  # nothing written for that video
