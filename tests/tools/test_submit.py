"""``python -m vidseg.submit``: each server's archive (names, PNG mode and palette, json schema), re-read with the
project's evaluators."""
from __future__ import annotations

import io
import json
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidseg.data.io.png import davis_palette, write_indexed_png
from vidseg.evaluation.cli import main as eval_main
from vidseg.evaluation.submission import write_ytvis_submission, ytvis_results
from vidseg.structures.masks import encode_mask
from vidseg.structures.video_instances import VideoInstances
from vidseg.submit import SERVERS, main

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

H, W = 16, 24


def _box(y0, y1, x0, x1):
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def _instances(tracks) -> VideoInstances:
    return VideoInstances(image_size=(H, W), frame_idx=list(range(len(tracks[0][1]))),
                          track_ids=list(range(1, len(tracks) + 1)), scores=[s for s, _ in tracks],
                          labels=[0] * len(tracks),
                          masks=[[None if m is None else encode_mask(m) for m in ms] for _, ms in tracks])


def run(fn, argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = fn(argv)
    return code, out.getvalue(), err.getvalue()


def _vis_case(tmp_path: Path, category: int):
    """A 2-video GT json and the evaluator's results folder: video 1 predicted exactly, video 2 with one track
    half-overlapping its GT box (IoU 1/2), the other exactly."""
    a, b, c = _box(0, 8, 0, 8), _box(8, 16, 12, 24), _box(0, 8, 0, 16)
    gt = {
        "videos": [{"id": 1, "file_names": ["v1/0.jpg", "v1/1.jpg"], "height": H, "width": W, "length": 2},
                   {"id": 2, "file_names": ["v2/0.jpg", "v2/1.jpg", "v2/2.jpg"], "height": H, "width": W,
                    "length": 3}],
        "categories": [{"id": category, "name": "thing"}],
        "annotations": [
            {"id": 1, "video_id": 1, "category_id": category, "iscrowd": 0,
             "segmentations": [encode_mask(a), encode_mask(a)], "areas": [64, 64]},
            {"id": 2, "video_id": 2, "category_id": category, "iscrowd": 0,
             "segmentations": [encode_mask(b), None, encode_mask(b)], "areas": [96, None, 96]},
            {"id": 3, "video_id": 2, "category_id": category, "iscrowd": 0,
             "segmentations": [encode_mask(c)] * 3, "areas": [128] * 3}],
    }
    gt_path = tmp_path / "valid.json"
    gt_path.write_text(json.dumps(gt))
    recs = [{"video_id": v, "file_names": [f"v{v}/{t}.jpg" for t in range(n)]} for v, n in ((1, 2), (2, 3))]
    part_b = _box(8, 16, 16, 24)  # 8 of b's 12 columns: video IoU 2/3 (b is empty on frame 1, so is part_b)
    preds = {1: _instances([(0.9, [a, a])]), 2: _instances([(0.8, [part_b, None, part_b]), (0.7, [c, c, c])])}
    write_ytvis_submission(tmp_path / "inference", ytvis_results(recs, preds, {0: category}))
    return gt_path, tmp_path / "inference"


@pytest.mark.parametrize("server,category", [("ytvis19", 40), ("ytvis21", 7), ("ovis", 25)])
def test_vis_archive_reread_by_the_evaluator(tmp_path, server, category):
    gt, results = _vis_case(tmp_path, category)
    out = tmp_path / "sub" / f"{server}.zip"
    code, msg, err = run(main, [server, "--results", str(results), "--out", str(out), "--split-json", str(gt)])
    assert code == 0, err
    assert "3 tracks in 2 videos" in msg
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["results.json"]  # at the root, no folder
        data = json.loads(zf.read("results.json"))
    for entry in data:
        assert sorted(entry) == ["category_id", "score", "segmentations", "video_id"]
        assert all(s is None or isinstance(s["counts"], str) for s in entry["segmentations"])
    (tmp_path / "x.json").write_text(json.dumps(data))
    code, printed, err = run(eval_main, ["ytvis", "--gt", str(gt), "--pred", str(tmp_path / "x.json")])
    assert code == 0, err
    metrics = json.loads(printed)
    # 3 GT tracks; detections by score: exact (0.9), IoU 2/3 (0.8), exact (0.7). IoU thresholds 0.5..0.65 (4 of
    # 10): all match, AP 1, recall 1. Thresholds 0.7..0.95: the 0.8 detection is a false positive between two
    # true positives: recall (1/3, 1/3, 2/3), interpolated precision (1, 2/3, 2/3): of the 101 recall points, 34
    # (r <= 0.33) get 1, 33 (0.34..0.66) get 2/3, the rest 0 -> AP 56/101; recall 2/3.
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP"] == pytest.approx((4 + 6 * 56 / 101) / 10)
    assert metrics["AR10"] == pytest.approx((4 + 6 * 2 / 3) / 10)


def test_vis_archive_rejects_bad_results(tmp_path):
    gt, results = _vis_case(tmp_path, 40)
    out = str(tmp_path / "o.zip")
    code, _, err = run(main, ["ovis", "--results", str(results), "--out", out])
    assert code == 2 and "category_id 40 outside the server's ids 1..25" in err
    data = json.loads((results / "results.json").read_text())
    data[1]["segmentations"] = data[1]["segmentations"][:2]
    (results / "results.json").write_text(json.dumps(data))
    code, _, err = run(main, ["ytvis19", "--results", str(results), "--out", out, "--split-json", str(gt)])
    assert code == 2 and "entry 1: 2 segmentations for video 2 of 3 frames" in err
    del data[0]["score"]
    (results / "results.json").write_text(json.dumps(data))
    code, _, err = run(main, ["ytvis19", "--results", str(results), "--out", out])
    assert code == 2 and "results.json: entry 0: needs the keys" in err
    code, _, err = run(main, ["ytvis19", "--results", str(tmp_path / "nowhere"), "--out", out])
    assert code == 2 and "results json not found" in err


def _vos_case(tmp_path: Path):
    """GT label PNGs and JPEG frames of two sequences; predictions written as grey ('L') PNGs under Annotations/."""
    rng = np.random.default_rng(0)
    gt_root, frames, pred = tmp_path / "gt", tmp_path / "JPEGImages", tmp_path / "inference" / "Annotations"
    for seq in ("bear", "car"):
        for t in range(3):
            lab = np.zeros((H, W), np.uint8)
            lab[2 + t:10 + t, 3:11] = 1
            lab[9:15, 14:22] = 2
            write_indexed_png(gt_root / seq / f"{t:05d}.png", lab)
            (pred / seq).mkdir(parents=True, exist_ok=True)
            Image.fromarray(lab, mode="L").save(pred / seq / f"{t:05d}.png")
            (frames / seq).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(frames / seq / f"{t:05d}.jpg")
    return gt_root, frames, tmp_path / "inference"


@pytest.mark.parametrize("server", ["davis17-testdev", "ytvos18", "ytvos19"])
def test_vos_archive_reread_by_the_evaluator(tmp_path, server):
    gt, frames, results = _vos_case(tmp_path)
    out = tmp_path / f"{server}.zip"
    code, msg, err = run(main, [server, "--results", str(results), "--out", str(out), "--frames", str(frames)])
    assert code == 0, err
    assert "6 palette PNGs" in msg
    prefix = "" if server == "davis17-testdev" else "Annotations/"
    expected = [f"{prefix}{s}/{t:05d}.png" for s in ("bear", "car") for t in range(3)]
    extracted = tmp_path / "x"
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == expected
        zf.extractall(extracted)
    for name in expected:
        with Image.open(extracted / name) as img:
            assert img.mode == "P"
            assert np.array_equal(np.array(img.getpalette()[:48]).reshape(16, 3), davis_palette(16))
    code, printed, err = run(eval_main, ["vos", "--gt", str(gt), "--pred", str(extracted / prefix), "--workers", "1"])
    assert code == 0, err
    assert json.loads(printed)["J&F-Mean"] == pytest.approx(1.0)


def test_vos_archive_rejects_missing_frame_and_wrong_size(tmp_path):
    _, frames, results = _vos_case(tmp_path)
    out = str(tmp_path / "o.zip")
    (results / "Annotations" / "car" / "00001.png").unlink()
    code, _, err = run(main, ["ytvos19", "--results", str(results), "--out", out, "--frames", str(frames)])
    assert code == 2 and "car/00001.png: missing prediction" in err
    Image.fromarray(np.zeros((H + 1, W), np.uint8), mode="L").save(results / "Annotations" / "car" / "00001.png")
    code, _, err = run(main, ["ytvos19", "--results", str(results), "--out", out, "--frames", str(frames)])
    assert code == 2 and "car/00001.png: size (17, 24) differs" in err
    code, _, err = run(main, ["davis17-testdev", "--results", str(tmp_path / "JPEGImages"), "--out", out])
    assert code == 2 and "no <video>/<frame>.png folders" in err


def test_every_server_is_tested():
    assert sorted(SERVERS) == ["davis17-testdev", "ovis", "ytvis19", "ytvis21", "ytvos18", "ytvos19"]
