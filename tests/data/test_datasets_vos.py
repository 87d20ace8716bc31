"""DAVIS 2016/2017 and YouTube-VOS loaders on hand-written trees."""
import json

import numpy as np
import pytest
from PIL import Image

from vidseg.data.datasets.davis import load_davis
from vidseg.data.datasets.ytvos import load_ytvos
from vidseg.data.io import DatasetFormatError, write_indexed_png
from vidseg.structures.masks import decode_mask

H, W = 12, 16


def _frame(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path)


def _labels(t):
    """Object 1: 3x4 block moving right by t; object 2: row 10 (16 px) from frame 1 on; void pixel at (0,0)."""
    lab = np.zeros((H, W), np.uint8)
    lab[2:5, 1 + t:5 + t] = 1
    if t >= 1:
        lab[10, :] = 2
    lab[0, 0] = 255
    return lab


def _davis_tree(root, seqs=("bear", "car"), n=3, pngs=None):
    for s in seqs:
        for t in range(n):
            _frame(root / "JPEGImages" / "480p" / s / f"{t:05d}.jpg")
            if pngs is None or t in pngs:
                write_indexed_png(root / "Annotations" / "480p" / s / f"{t:05d}.png", _labels(t))
    for year in ("2016", "2017"):
        (root / "ImageSets" / year).mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / year / "val.txt").write_text("\n".join(seqs) + "\n")


def test_davis_2017_multi_object(tmp_path):
    _davis_tree(tmp_path)
    recs = load_davis(tmp_path, year=2017, split="val")
    assert [r["video_id"] for r in recs] == ["bear", "car"]
    r = recs[0]
    assert (r["length"], r["height"], r["width"]) == (3, H, W)
    assert [a["id"] for a in r["annotations"][0]] == [1]
    assert [a["id"] for a in r["annotations"][2]] == [1, 2]
    obj1 = r["annotations"][2][0]
    assert decode_mask(obj1["segmentation"]).sum() == 12 and obj1["bbox"] == [3.0, 2.0, 4.0, 3.0]
    assert decode_mask(r["annotations"][1][1]["segmentation"]).sum() == 16
    assert r["vos_init"] == {0: [1]}  # DAVIS protocol: the objects of the first frame
    late = load_davis(tmp_path, year=2017, split="val", late_objects=True)[0]
    assert late["vos_init"] == {0: [1], 1: [2]}
    assert decode_mask(r["ignore"][0]).sum() == 1  # the void pixel
    assert all(a["category_id"] == 0 for f in r["annotations"] for a in f)


def test_davis_2016_binary(tmp_path):
    _davis_tree(tmp_path)
    r = load_davis(tmp_path, year=2016, split="val")[0]
    assert [[a["id"] for a in f] for f in r["annotations"]] == [[1], [1], [1]]
    assert decode_mask(r["annotations"][1][0]["segmentation"]).sum() == 12 + 16  # void (255) is not foreground
    assert decode_mask(r["ignore"][1]).sum() == 1  # it stays void
    inst = load_davis(tmp_path, year=2016, split="val", binary=False)[0]
    assert [a["id"] for a in inst["annotations"][1]] == [1, 2]


def test_davis_2016_package_split_list_and_255_masks(tmp_path):
    _davis_tree(tmp_path, seqs=("bear",))
    grey = np.zeros((H, W), np.uint8)
    grey[3:6, 3:5] = 255
    for t in range(3):  # DAVIS-2016 package masks: greyscale 0/255
        Image.fromarray(grey).save(tmp_path / "Annotations" / "480p" / "bear" / f"{t:05d}.png")
    (tmp_path / "ImageSets" / "2016" / "val.txt").unlink()
    (tmp_path / "ImageSets" / "480p").mkdir()
    (tmp_path / "ImageSets" / "480p" / "val.txt").write_text(
        "/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png\n"
        "/JPEGImages/480p/bear/00001.jpg /Annotations/480p/bear/00001.png\n"
    )
    (r,) = load_davis(tmp_path, year=2016, split="val")
    assert r["video_id"] == "bear" and r["vos_init"] == {0: [1]}
    assert [decode_mask(f[0]["segmentation"]).sum() for f in r["annotations"]] == [6, 6, 6]
    assert "ignore" not in r  # 255 is the object in grey masks, not void
    (inst,) = load_davis(tmp_path, year=2016, split="val", binary=False)  # the _instance variant: one object
    assert [[a["id"] for a in f] for f in inst["annotations"]] == [[1], [1], [1]]


def test_davis_missing_mask_is_an_error_for_gt_split(tmp_path):
    _davis_tree(tmp_path, pngs={0, 2})
    with pytest.raises(DatasetFormatError) as e:
        load_davis(tmp_path, year=2017, split="val")
    assert str(tmp_path / "Annotations" / "480p" / "bear") in str(e.value) and "2 PNGs for 3 frames" in str(e.value)
    # a test-dev style split (first-frame masks only) loads with None on unannotated frames
    r = load_davis(tmp_path, year=2017, split="val", require_annotations=False)[0]
    assert r["annotations"][1] is None and r["annotations"][2] is not None


def test_davis_missing_root_and_split(tmp_path):
    with pytest.raises(DatasetFormatError, match=r"DAVIS root not found.*README"):
        load_davis(tmp_path / "DAVIS", year=2017, split="val")
    _davis_tree(tmp_path)
    with pytest.raises(DatasetFormatError, match=r"ImageSets/2017/train\.txt: DAVIS split list not found"):
        load_davis(tmp_path, year=2017, split="train")


def _ytvos_tree(root):
    """train: 'a' fully annotated; valid: 'b' with object 1 from frame 0 and object 2 appearing at frame 2."""
    for t in range(3):
        _frame(root / "train" / "JPEGImages" / "a" / f"{5 * t:05d}.jpg")
        write_indexed_png(root / "train" / "Annotations" / "a" / f"{5 * t:05d}.png", _labels(t))
    (root / "train" / "meta.json").write_text(json.dumps(
        {"videos": {"a": {"objects": {"1": {"category": "ape", "frames": ["00000", "00005", "00010"]}}}}}
    ))
    for t in range(4):
        _frame(root / "valid" / "JPEGImages" / "b" / f"{5 * t:05d}.jpg")
    first = np.zeros((H, W), np.uint8)
    first[1:3, 1:3] = 1
    late = np.zeros((H, W), np.uint8)
    late[6:9, 6:11] = 2
    write_indexed_png(root / "valid" / "Annotations" / "b" / "00000.png", first)
    write_indexed_png(root / "valid" / "Annotations" / "b" / "00010.png", late)
    (root / "valid" / "meta.json").write_text(json.dumps(
        {"videos": {"b": {"objects": {"1": {"frames": ["00000"]}, "2": {"frames": ["00010"]}}}}}
    ))


def test_ytvos_train_and_late_object_in_valid(tmp_path):
    _ytvos_tree(tmp_path)
    train = load_ytvos(tmp_path, split="train")
    assert len(train) == 1 and all(f is not None for f in train[0]["annotations"])
    assert train[0]["file_names"][2].endswith("a/00010.jpg")
    valid = load_ytvos(tmp_path, split="valid")[0]
    assert valid["length"] == 4
    assert valid["annotations"][1] is None and valid["annotations"][3] is None
    assert [a["id"] for a in valid["annotations"][2]] == [2]
    assert decode_mask(valid["annotations"][2][0]["segmentation"]).sum() == 15
    assert valid["vos_init"] == {0: [1], 2: [2]}


def test_ytvos_errors(tmp_path):
    with pytest.raises(DatasetFormatError, match=r"train: YouTube-VOS split folder not found"):
        load_ytvos(tmp_path, split="train")
    _ytvos_tree(tmp_path)
    (tmp_path / "valid" / "meta.json").write_text("[]")
    with pytest.raises(DatasetFormatError, match=r"valid/meta\.json"):
        load_ytvos(tmp_path, split="valid")
    # a GT split whose frame count does not match its masks
    _frame(tmp_path / "train" / "JPEGImages" / "a" / "00015.jpg")
    with pytest.raises(DatasetFormatError, match=r"Annotations/a: 3 PNGs for 4 frames"):
        load_ytvos(tmp_path, split="train")


def test_davis_record_cache_reused_and_invalidated(tmp_path):
    root, cache = tmp_path / "DAVIS", tmp_path / "cache"
    _davis_tree(root)
    first = load_davis(root, year=2017, split="val", cache=cache)
    (pkl,) = cache.glob("records_*.pkl")
    assert load_davis(root, year=2017, split="val", cache=cache) == first  # a hit
    assert len(list(cache.glob("records_*.pkl"))) == 1
    # a PNG broken in place (the folder mtime stays) changes the file's size and mtime: the entry is rebuilt
    (root / "Annotations" / "480p" / "bear" / "00001.png").write_bytes(b"broken")
    with pytest.raises(DatasetFormatError, match=r"00001\.png: cannot read annotation PNG"):
        load_davis(root, year=2017, split="val", cache=cache)
    assert pkl.is_file()
