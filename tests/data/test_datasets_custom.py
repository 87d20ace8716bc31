"""Custom datasets in one call: register, load through DatasetCatalog, evaluate with the evaluator the metadata
names (perfect predictions score 1)."""
import json
import uuid

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

import vidseg.evaluation  # noqa: F401  (registers the evaluators)
from vidseg.data.datasets import register_mots_txt, register_vos_folder, register_ytvis_instances
from vidseg.data.io import DatasetFormatError, write_indexed_png
from vidseg.registry import EVALUATOR_REGISTRY
from vidseg.structures.masks import encode_mask
from vidseg.structures.video_instances import VideoInstances

H, W, T = 10, 14, 4


def _frame(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(path)


def _name(kind):
    return f"test_custom_{kind}_{uuid.uuid4().hex[:8]}"


def _perfect(records, label_of=lambda obj_id: -1):
    """Predictions equal to the ground truth of every record."""
    out = []
    for r in records:
        tracks = {}
        for t, anns in enumerate(r["annotations"]):
            for a in anns or []:
                tracks.setdefault(a["id"], [None] * r["length"])[t] = a["segmentation"]
        ids = sorted(tracks)
        out.append(({"video_id": r["video_id"]}, {"video_instances": VideoInstances(
            image_size=(r["height"], r["width"]), frame_idx=list(range(r["length"])), track_ids=ids,
            scores=[0.9] * len(ids), labels=[label_of(i) for i in ids], masks=[tracks[i] for i in ids])}))
    return out


def _evaluate(name, records, label_of=lambda obj_id: -1):
    ev = EVALUATOR_REGISTRY.get(MetadataCatalog.get(name).evaluator_type)(name, distributed=False)
    ev.reset()
    for inp, out in _perfect(records, label_of):
        ev.process([inp], [out])
    return ev.evaluate()


def test_register_vos_folder(tmp_path):
    for seq in ("a", "b"):
        for t in range(T):
            _frame(tmp_path / "JPEGImages" / seq / f"{t:05d}.jpg")
            lab = np.zeros((H, W), np.uint8)
            lab[1:4, t:t + 4] = 1
            lab[6:9, 2:6] = 2
            write_indexed_png(tmp_path / "Annotations" / seq / f"{t:05d}.png", lab)
    name = _name("vos")
    register_vos_folder(name, tmp_path)
    meta = MetadataCatalog.get(name)
    assert (meta.evaluator_type, meta.vos_protocol, meta.task) == ("VOSEvaluator", "davis", "vos")
    records = DatasetCatalog.get(name)
    assert [r["video_id"] for r in records] == ["a", "b"] and records[0]["vos_init"] == {0: [1, 2]}
    assert all(r["dataset_name"] == name for r in records)
    res = _evaluate(name, records)["vos"]
    assert res["J&F-Mean"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="already registered"):
        register_vos_folder(name, tmp_path)
    with pytest.raises(ValueError, match="protocol"):
        register_vos_folder(_name("vos"), tmp_path, protocol="nope")
    missing = _name("vos")
    register_vos_folder(missing, tmp_path / "nothing")
    with pytest.raises(DatasetFormatError, match="nothing"):
        DatasetCatalog.get(missing)


def test_register_ytvis_instances(tmp_path):
    m = np.zeros((H, W), np.uint8)
    m[2:6, 3:9] = 1
    rle = encode_mask(m)
    data = {
        "videos": [{"id": 7, "file_names": [f"v/{t}.jpg" for t in range(T)], "height": H, "width": W, "length": T}],
        "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "dog"}],
        "annotations": [{"id": 1, "video_id": 7, "category_id": 5, "iscrowd": 0, "areas": [24] * T,
                         "segmentations": [rle] * T}],
    }
    js = tmp_path / "train.json"
    js.write_text(json.dumps(data))
    name = _name("vis")
    register_ytvis_instances(name, js, tmp_path, thing_classes=["cat", "dog"])
    records = DatasetCatalog.get(name)
    meta = MetadataCatalog.get(name)
    assert meta.evaluator_type == "YTVISEvaluator" and meta.thing_dataset_id_to_contiguous_id == {3: 0, 5: 1}
    res = _evaluate(name, records, label_of=lambda i: 1)["ytvis"]
    assert res["AP"] == pytest.approx(1.0) and res["AR1"] == pytest.approx(1.0)
    bad = _name("vis")
    register_ytvis_instances(bad, js, tmp_path, thing_classes=["only_one"])
    with pytest.raises(DatasetFormatError):
        DatasetCatalog.get(bad)


def test_register_mots_txt(tmp_path):
    lines = []
    for t in range(T):
        _frame(tmp_path / "images" / "0003" / f"{t:06d}.png")
        car = np.zeros((H, W), np.uint8)
        car[1:5, t:t + 5] = 1
        ped = np.zeros((H, W), np.uint8)
        ped[6:10, 8:11] = 1
        for obj_id, cls, mask in ((1001, 1, car), (2002, 2, ped)):
            lines.append(f"{t} {obj_id} {cls} {H} {W} {encode_mask(mask)['counts']}")
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "0003.txt").write_text("\n".join(lines) + "\n")
    name = _name("mots")
    register_mots_txt(name, tmp_path, image_dir="images", txt_dir="txt")
    records = DatasetCatalog.get(name)
    assert [r["video_id"] for r in records] == ["0003"] and len(records[0]["annotations"][0]) == 2
    res = _evaluate(name, records, label_of=lambda i: i // 1000 - 1)["mots"]
    assert res["sMOTSA-car"] == pytest.approx(1.0) and res["sMOTSA-pedestrian"] == pytest.approx(1.0)
