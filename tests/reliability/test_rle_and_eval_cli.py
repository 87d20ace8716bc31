"""Item 4 (malformed RLE named with annotation, frame and file in the loaders and the evaluation CLI) and item 9
for ``python -m vidseg.evaluation``: one line, exit code 2, the file named."""
import io
import json
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from vidseg.data.datasets.ytvis import load_ytvis_json
from vidseg.data.io.errors import DatasetFormatError
from vidseg.data.io.kitti_mots import read_kitti_mots_txt
from vidseg.evaluation.cli import main
from vidseg.structures.masks import encode_mask, rle_counts, validate_rle

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
H, W = 6, 8


def _box():
    m = np.zeros((H, W), np.uint8)
    m[1:4, 2:6] = 1
    return m


def _gt(tmp_path, segmentation):
    gt = {"videos": [{"id": 1, "file_names": ["v/0.jpg", "v/1.jpg"], "height": H, "width": W, "length": 2}],
          "categories": [{"id": 5, "name": "duck"}],
          "annotations": [{"id": 7, "video_id": 1, "category_id": 5, "iscrowd": 0,
                           "segmentations": [encode_mask(_box()), segmentation]}]}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    return path


def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue().strip().splitlines()


# ---- item 4
def test_rle_counts_match_a_straightforward_decoder():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 60, 2)
        m = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        rle = encode_mask(m)
        flat = m.flatten(order="F")  # COCO runs are column-major, starting with background
        edges = np.flatnonzero(np.diff(np.concatenate(([0], flat, [1 - flat[-1]]))) != 0)
        runs = np.diff(np.concatenate(([0], edges))).tolist()
        assert rle_counts(rle)[:len(runs)] == runs[:len(rle_counts(rle))] and sum(rle_counts(rle)) == h * w


@pytest.mark.parametrize("counts", [[5, 10], [40, 4, 10], [-2, 50]], ids=["short", "long", "negative"])
def test_uncompressed_rle_in_ytvis_json_is_named(tmp_path, counts):
    path = _gt(tmp_path, {"size": [H, W], "counts": counts})
    with pytest.raises(DatasetFormatError) as e:
        load_ytvis_json(path, tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: annotation 7 of video 1 frame 1: ") and "\n" not in msg


def test_compressed_rle_in_ytvis_json_is_named(tmp_path):
    good = encode_mask(np.ones((H, W + 1), np.uint8))  # 54 pixels of runs under a 6x8 size
    path = _gt(tmp_path, {"size": [H, W], "counts": good["counts"]})
    with pytest.raises(DatasetFormatError, match=r"annotation 7 of video 1 frame 1: RLE: 'counts' covers 54 pixels, "
                                                 r"expected height\*width = 48"):
        load_ytvis_json(path, tmp_path)


def test_malformed_rle_in_kitti_mots_txt_is_named(tmp_path):
    bad = encode_mask(np.ones((H, W + 1), np.uint8))["counts"]
    txt = tmp_path / "0002.txt"
    txt.write_text(f"0 1001 1 {H} {W} {encode_mask(_box())['counts']}\n3 2005 2 {H} {W} {bad}\n")
    with pytest.raises(DatasetFormatError) as e:
        read_kitti_mots_txt(txt)
    assert str(e.value).startswith(f"{txt}:2: frame 3 object 2005: 'counts' covers 54 pixels")


def test_validate_rle_accepts_valid_and_empty():
    validate_rle(encode_mask(np.zeros((H, W), np.uint8)))
    validate_rle({"size": [H, W], "counts": [48]})
    validate_rle({"size": [0, 0], "counts": []})


# ---- evaluation CLI
def _results(tmp_path, entries):
    path = tmp_path / "res.json"
    path.write_text(json.dumps(entries) if not isinstance(entries, str) else entries)
    return path


def _entry(**kw):
    return {"video_id": 1, "category_id": 5, "score": 0.9, "segmentations": [encode_mask(_box()), None], **kw}


@pytest.mark.parametrize("broken,expected", [
    ({"score": None}, "entry 0 has score None (expected a finite number)"),
    ({"score": float("nan")}, "entry 0 has score nan (expected a finite number)"),
    ({"score": "0.5"}, "entry 0 has score '0.5' (expected a finite number)"),
])
def test_cli_rejects_bad_scores(tmp_path, broken, expected):
    gt = _gt(tmp_path, None)
    res = _results(tmp_path, [_entry(**broken)])
    code, out, err = _cli(["ytvis", "--gt", str(gt), "--pred", str(res)])
    assert code == 2 and out == "" and err == [f"error: {res}: {expected}"]


def test_cli_rejects_entry_without_score(tmp_path):
    gt = _gt(tmp_path, None)
    entry = _entry()
    del entry["score"]
    res = _results(tmp_path, [entry])
    code, _, err = _cli(["ytvis", "--gt", str(gt), "--pred", str(res)])
    assert code == 2 and err[-1].startswith(f"error: {res}: entry 0 lacks one of video_id, category_id, score")


def test_cli_accepts_polygons_like_the_official_api(tmp_path):
    gt = _gt(tmp_path, None)
    polygon = [[2.0, 1.0, 6.0, 1.0, 6.0, 4.0, 2.0, 4.0]]
    code, out, err = _cli(["ytvis", "--gt", str(gt), "--pred", str(_results(tmp_path, [_entry(
        segmentations=[polygon, None])]))])
    assert code == 0, err
    assert json.loads(out)["AP50"] > 0.0


def test_cli_malformed_prediction_rle_is_named(tmp_path):
    gt = _gt(tmp_path, None)
    res = _results(tmp_path, [_entry(segmentations=[{"size": [H, W], "counts": [3, 4]}, None])])
    code, _, err = _cli(["ytvis", "--gt", str(gt), "--pred", str(res)])
    assert code == 2 and err == [f"error: {res}: entry 0 frame 0: RLE: 'counts' covers 7 pixels, "
                                 f"expected height*width = 48"]


@pytest.mark.parametrize("which", ["pred", "gt"])
def test_cli_invalid_json_names_the_file(tmp_path, which):
    gt = _gt(tmp_path, None)
    res = _results(tmp_path, [_entry()])
    bad = gt if which == "gt" else res
    bad.write_text('[{"video_id": 1,')
    code, _, err = _cli(["ytvis", "--gt", str(gt), "--pred", str(res)])
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: {bad}: invalid json")
