"""Item 8: data problems are reported when the loader is built, not when a bad frame is read hours later."""
import json
import logging

import numpy as np
import pytest
from PIL import Image
from reliability_testutils import args, exit_line

from vidseg.data.build import load_records
from vidseg.data.datasets.ytvis import load_ytvis_json
from vidseg.data.io.errors import DatasetFormatError
from vidseg.data.validate import check_records


def _frame(path, h=8, w=10):
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)
    return str(path)


def test_orphan_annotations_counted_in_one_warning(tmp_path, caplog):
    data = {"videos": [{"id": 1, "file_names": ["a/0.jpg"], "height": 4, "width": 4, "length": 1}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": i, "video_id": 7 + i % 2, "category_id": 1, "segmentations": [None]}
                            for i in range(5)]}
    js = tmp_path / "train.json"
    js.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        load_ytvis_json(js, tmp_path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{js}: 5 annotations name 2 video_id(s) not in 'videos' (e.g. 7); they are ignored"]


def test_zero_length_video_fails_at_load(register):
    name = register("_rel_zero_len", [{"video_id": "v0", "file_names": [], "length": 0, "annotations": []}])
    with pytest.raises(DatasetFormatError, match=r"^dataset '_rel_zero_len': video 'v0' has no frames"):
        load_records(name)


def test_training_split_without_objects_fails(register, tmp_path):
    recs = [{"video_id": i, "file_names": [_frame(tmp_path / f"{i}.jpg")], "height": 8, "width": 10, "length": 1,
             "annotations": [[]]} for i in range(3)]
    name = register("_rel_no_objects", recs)
    with pytest.raises(DatasetFormatError, match=r"^dataset '_rel_no_objects': none of its 3 videos has an "
                                                 r"annotated object \(expected a training split"):
        load_records(name, training=True)
    assert load_records(name) == recs  # evaluating on it is fine


def test_frame_size_mismatch_fails_at_load_naming_the_frame(register, tmp_path):
    good = [{"video_id": i, "file_names": [_frame(tmp_path / f"{i}.jpg")], "height": 8, "width": 10, "length": 1,
             "annotations": [[{"id": 1}]]} for i in range(3)]
    bad = dict(good[0], video_id="bad", file_names=[_frame(tmp_path / "bad.jpg", h=9, w=10)])
    with pytest.raises(DatasetFormatError) as e:
        check_records("x", [bad, *good], training=True)
    assert str(e.value) == (f"{tmp_path / 'bad.jpg'}: frame is 10x9 but video 'bad' of dataset 'x' records 10x8 "
                            "(expected frames of the recorded size)")
    check_records("x", good, training=True)


def test_size_check_is_sampled():
    calls = []
    recs = [{"video_id": i, "file_names": [f"/nonexistent/{i}.jpg"], "height": 1, "width": 1} for i in range(1000)]

    class Spy(list):
        def __getitem__(self, k):
            calls.append(k)
            return super().__getitem__(k)

    for r in recs:
        r["file_names"] = Spy(r["file_names"])
    check_records("x", recs, training=False, sample=16)
    assert len(calls) <= 16 * 2


def test_train_loader_fails_before_training_on_empty_split(register, tmp_path, capsys):
    recs = [{"video_id": 0, "file_names": [_frame(tmp_path / "0.jpg")], "height": 8, "width": 10, "length": 1,
             "annotations": [None]}]
    register("_rel_gtless", recs)
    line = exit_line(capsys, args(opts=["OUTPUT_DIR", tmp_path / "o", "DATASETS.TRAIN", "('_rel_gtless',)"]))
    assert line.startswith("error: dataset '_rel_gtless': none of its 1 videos has an annotated object")
