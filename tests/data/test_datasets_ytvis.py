"""YouTube-VIS / OVIS json loader on hand-written files."""
import json

import numpy as np
import pytest
from detectron2.data import MetadataCatalog
from detectron2.structures import BoxMode

from vidseg.data.datasets.ytvis import load_ytvis_json
from vidseg.data.io import DatasetFormatError
from vidseg.structures.masks import decode_mask


def _uncompressed(mask):
    flat = mask.flatten(order="F")
    runs, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    return {"size": list(mask.shape), "counts": runs + [n]}


def _json(with_annotations=True):
    """Two videos, 10x12; categories with non-contiguous ids 5 (cat) and 9 (dog)."""
    h, w = 10, 12
    box = np.zeros((h, w), np.uint8)
    box[2:5, 3:7] = 1  # 12 px
    data = {
        "videos": [
            {"id": 7, "height": h, "width": w, "length": 3, "file_names": [f"v7/{i:05d}.jpg" for i in range(3)]},
            {"id": 8, "height": h, "width": w, "length": 2, "file_names": ["v8/a.jpg", "v8/b.jpg"]},
        ],
        "categories": [{"id": 9, "name": "dog"}, {"id": 5, "name": "cat"}],
    }
    if with_annotations:
        data["annotations"] = [
            # uncompressed RLE, absent (null) in frame 1
            {"id": 100, "video_id": 7, "category_id": 9, "iscrowd": 0,
             "segmentations": [_uncompressed(box), None, _uncompressed(box[::-1].copy())]},
            # polygons: a 2x2 square at (0,0)-(2,2) -> 4 px; empty polygon list in frame 2 -> absent
            {"id": 101, "video_id": 7, "category_id": 5, "iscrowd": 1,
             "segmentations": [None, [[0, 0, 2, 0, 2, 2, 0, 2]], []]},
        ]
    return data


def _write(tmp_path, data, name="train.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def test_ytvis_records_hand_checked(tmp_path):
    name = "test_ytvis_hand_checked"
    recs = load_ytvis_json(_write(tmp_path, _json()), tmp_path / "JPEGImages", dataset_name=name)
    assert [r["video_id"] for r in recs] == [7, 8]
    r = recs[0]
    assert r["length"] == 3 and len(r["file_names"]) == 3 and len(r["annotations"]) == 3
    assert r["file_names"][1] == str(tmp_path / "JPEGImages" / "v7" / "00001.jpg")
    assert (r["height"], r["width"]) == (10, 12)
    f0, f1, f2 = r["annotations"]
    assert [a["id"] for a in f0] == [100]
    assert f0[0]["category_id"] == 1  # dataset id 9 -> contiguous 1 (sorted ids 5, 9)
    assert f0[0]["bbox"] == [3.0, 2.0, 4.0, 3.0] and f0[0]["bbox_mode"] == BoxMode.XYWH_ABS
    assert isinstance(f0[0]["segmentation"]["counts"], str)
    assert decode_mask(f0[0]["segmentation"]).sum() == 12
    assert decode_mask(f2[0]["segmentation"])[5:8, 3:7].all()  # flipped box lies in rows 5..7
    assert [(a["id"], a["category_id"], a["iscrowd"]) for a in f1] == [(101, 0, 1)]
    assert decode_mask(f1[0]["segmentation"]).sum() == 4
    assert [a["id"] for a in f2] == [100]
    assert recs[1]["annotations"] == [[], []]  # annotated and empty
    meta = MetadataCatalog.get(name)
    assert meta.thing_classes == ["cat", "dog"]
    assert meta.thing_dataset_id_to_contiguous_id == {5: 0, 9: 1}


def test_ytvis_without_annotations_gives_none_frames(tmp_path):
    recs = load_ytvis_json(_write(tmp_path, _json(False), "valid.json"), tmp_path)
    assert recs[0]["annotations"] == [None, None, None]
    assert recs[1]["annotations"] == [None, None]


def test_ytvis_missing_annotations_for_gt_split(tmp_path):
    p = _write(tmp_path, _json(False))
    with pytest.raises(DatasetFormatError) as e:
        load_ytvis_json(p, tmp_path, require_annotations=True)
    assert str(p) in str(e.value) and "'annotations'" in str(e.value)
    name = "test_ytvis_has_gt_registered"
    MetadataCatalog.get(name).set(has_gt=True)
    with pytest.raises(DatasetFormatError, match="has_gt=True"):
        load_ytvis_json(p, tmp_path, dataset_name=name)


def test_ytvis_frame_count_mismatch(tmp_path):
    data = _json()
    data["videos"][1]["length"] = 5
    p = _write(tmp_path, data)
    with pytest.raises(DatasetFormatError) as e:
        load_ytvis_json(p, tmp_path)
    msg = str(e.value)
    assert str(p) in msg and "video 8" in msg and "length 5" in msg and "\n" not in msg
    data = _json()
    data["annotations"][0]["segmentations"].append(None)  # 4 segmentations for 3 frames
    p = _write(tmp_path, data, "x.json")
    with pytest.raises(DatasetFormatError, match=r"x\.json.*annotation 100 of video 7 has 4 segmentations"):
        load_ytvis_json(p, tmp_path)


def test_ytvis_missing_and_broken_json(tmp_path):
    with pytest.raises(DatasetFormatError, match=r"nope\.json: annotation json not found.*README"):
        load_ytvis_json(tmp_path / "nope.json", tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetFormatError, match=r"bad\.json: invalid json"):
        load_ytvis_json(bad, tmp_path)
    data = _json()
    data["annotations"][0]["category_id"] = 3
    with pytest.raises(DatasetFormatError, match="category_id 3"):
        load_ytvis_json(_write(tmp_path, data), tmp_path)


def test_ytvis_metadata_conflict(tmp_path):
    name = "test_ytvis_conflict"
    MetadataCatalog.get(name).set(thing_classes=["a", "b"])
    with pytest.raises(DatasetFormatError, match="thing_classes"):
        load_ytvis_json(_write(tmp_path, _json()), tmp_path, dataset_name=name)


def test_prepare_ovis_sub_partitions_train(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "datasets" / "prepare_ovis_sub.py"
    spec = importlib.util.spec_from_file_location("prepare_ovis_sub", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data = _json()
    data["videos"] += [dict(data["videos"][1], id=i, file_names=[f"v{i}/a.jpg", f"v{i}/b.jpg"]) for i in range(20, 38)]
    src = _write(tmp_path, data, "annotations_train.json")
    assert mod.split_ovis(src, tmp_path, val_fraction=0.1, seed=0) == (18, 2)
    tr = load_ytvis_json(tmp_path / "annotations_sub_train.json", tmp_path, require_annotations=True)
    va = load_ytvis_json(tmp_path / "annotations_sub_val.json", tmp_path, require_annotations=True)
    assert sorted(r["video_id"] for r in tr + va) == sorted(v["id"] for v in data["videos"])
    first = (tmp_path / "annotations_sub_val.json").read_text()
    mod.split_ovis(src, tmp_path, val_fraction=0.1, seed=0)
    assert (tmp_path / "annotations_sub_val.json").read_text() == first  # deterministic
