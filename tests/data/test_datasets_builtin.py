"""Registration of the built-in names: once each, complete metadata, clear errors for missing data."""
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

import vidseg.data  # noqa: F401  (registers at import)
from vidseg.data.datasets import builtin_datasets, register_all_builtin
from vidseg.data.io import DatasetFormatError

ARCH_NAMES = (
    [f"ytvis_{y}_{s}" for y in (2019, 2021) for s in ("train", "val", "test")]
    + [f"ovis_{s}" for s in ("train", "val", "test", "sub_train", "sub_val")]
    + ["davis_2016_train", "davis_2016_val", "davis_2017_train", "davis_2017_val", "davis_2017_test_dev"]
    + [f"ytvos_{y}_{s}" for y in (2018, 2019) for s in ("train", "val")]
    + ["fbms_59_train", "fbms_59_test", "kitti_mots_train", "kitti_mots_val"]
    + [f"synth_{t}_{s}{p}" for t in ("vis", "vos", "moseg", "mots") for s in ("train", "val") for p in ("", "_large")]
)
EVALUATOR_OF = {"vis": "YTVISEvaluator", "vos": "VOSEvaluator", "moseg": "FBMSEvaluator", "mots": "MOTSEvaluator"}
REAL = [n for n in builtin_datasets() if not n.startswith("synth_")]


def test_every_name_registered_once_with_metadata():
    registered = DatasetCatalog.list()
    for name in ARCH_NAMES:
        assert registered.count(name) == 1, name
    assert register_all_builtin() == []  # idempotent
    for name in builtin_datasets():
        meta = MetadataCatalog.get(name)
        assert meta.evaluator_type == EVALUATOR_OF[meta.task], name
        assert isinstance(meta.has_gt, bool) and len(meta.thing_classes) >= 1
        assert len(meta.thing_dataset_id_to_contiguous_id) == len(meta.thing_classes)
        assert "image_root" in meta.as_dict() and ("json_file" in meta.as_dict() or "gt_root" in meta.as_dict())
        if meta.task == "vos":
            assert meta.vos_protocol in ("davis", "ytvos", "davis_binary")
    assert len(MetadataCatalog.get("ytvis_2019_train").thing_classes) == 40
    assert len(MetadataCatalog.get("ytvis_2021_val").thing_classes) == 40
    assert len(MetadataCatalog.get("ovis_train").thing_classes) == 25
    assert MetadataCatalog.get("ytvis_2019_val").has_gt is False
    assert MetadataCatalog.get("davis_2016_val").vos_protocol == "davis_binary"
    assert MetadataCatalog.get("ytvos_2019_val").vos_protocol == "ytvos"
    assert MetadataCatalog.get("fbms_59_test").flow_root.endswith("FBMS/flow/Testset")


@pytest.mark.parametrize("name", REAL)
def test_missing_dataset_root_names_the_path(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetFormatError) as e:
        DatasetCatalog.get(name)
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "datasets/README.md" in msg and "\n" not in msg


def test_metadata_paths_follow_the_root_at_load_time(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    (tmp_path / "ytvis_2019").mkdir()
    (tmp_path / "ytvis_2019" / "valid.json").write_text(
        '{"videos": [{"id": 1, "height": 4, "width": 4, "length": 1, "file_names": ["a/0.jpg"]}],'
        ' "categories": [{"id": 1, "name": "person"}]}'
    )
    with pytest.raises(DatasetFormatError, match="differs from the registered one"):
        DatasetCatalog.get("ytvis_2019_val")  # the json's classes disagree with YouTube-VIS 2019's
    meta = MetadataCatalog.get("ytvis_2019_val")
    assert meta.json_file == str(tmp_path / "ytvis_2019" / "valid.json")
    assert meta.image_root == str(tmp_path / "ytvis_2019" / "valid" / "JPEGImages")
    assert meta.evaluator_type == "YTVISEvaluator" and meta.has_gt is False
