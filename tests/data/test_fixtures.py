"""The loaders on hand-written files in the official formats (``tests/fixtures/``, see its README), not on files
vidseg's own writers produced. Expected values are read off the fixture files by hand."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidseg.data.datasets.davis import load_davis
from vidseg.data.datasets.fbms import load_fbms, read_fbms_def
from vidseg.data.datasets.kitti_mots import load_kitti_mots
from vidseg.data.datasets.ytvis import load_ytvis_json
from vidseg.data.datasets.ytvos import load_ytvos, read_ytvos_meta
from vidseg.data.io import read_kitti_mots_txt, write_indexed_png
from vidseg.evaluation.base import gt_tracks
from vidseg.structures.masks import decode_mask

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
FIX = Path(__file__).resolve().parents[1] / "fixtures"


def _frames(folder, names, h, w):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(folder / n)


def _pixels(entry):
    return sorted(zip(*np.nonzero(decode_mask(entry["segmentation"]))))


# ------------------------------------------------------------------ FBMS
def test_fbms_real_def_dat_and_ppm_ground_truth(tmp_path):
    gt = read_fbms_def(FIX / "fbms" / "ppmseq" / "GroundTruth" / "ppmseqDef.dat")
    assert gt.colors == [0, 255 * 65536, 16777215] and gt.num_frames == 4
    assert [(f, p.name) for f, p in gt.frames] == [(0, "ppmseq_01.ppm"), (2, "ppmseq_03.ppm")]
    seq = tmp_path / "Testset" / "ppmseq"
    shutil.copytree(FIX / "fbms" / "ppmseq", seq)
    _frames(seq, [f"ppmseq_{i:02d}.jpg" for i in range(1, 5)], 3, 4)
    (r,) = load_fbms(tmp_path, split="Testset")
    assert r["eval_frames"] == [0, 2] and r["length"] == 4 and (r["height"], r["width"]) == (3, 4)
    f0, f2 = r["annotations"][0], r["annotations"][2]
    assert [a["id"] for a in f0] == [1, 2]
    assert _pixels(f0[0]) == [(0, 0), (0, 1)]  # red
    assert _pixels(f0[1]) == [(2, 2), (2, 3)]  # white; the green pixel is background
    assert [a["id"] for a in f2] == [1] and _pixels(f2[0]) == [(0, 0), (1, 0)]


def test_fbms_pgm_grey_value_is_the_region_colour(tmp_path):
    seq = tmp_path / "Trainingset" / "pgmseq"
    shutil.copytree(FIX / "fbms" / "pgmseq", seq)
    _frames(seq, ["pgmseq_01.jpg", "pgmseq_02.jpg"], 3, 4)
    (r,) = load_fbms(tmp_path, split="Trainingset")
    assert r["eval_frames"] == [1] and r["annotations"][0] is None
    (obj,) = r["annotations"][1]
    assert _pixels(obj) == [(1, 1), (1, 2), (1, 3)]  # grey 255 = region 1; grey 128 is not a region


# ------------------------------------------------------------------ DAVIS
def _davis_tree(root, png, split_list_2016=False):
    _frames(root / "JPEGImages" / "480p" / "seq", ["00000.jpg"], 6, 8)
    (root / "Annotations" / "480p" / "seq").mkdir(parents=True)
    shutil.copy(FIX / "davis" / png, root / "Annotations" / "480p" / "seq" / "00000.png")
    if split_list_2016:  # the DAVIS-2016 package: ImageSets/480p/<split>.txt with path pairs
        (root / "ImageSets" / "480p").mkdir(parents=True)
        (root / "ImageSets" / "480p" / "val.txt").write_text(
            "/JPEGImages/480p/seq/00000.jpg /Annotations/480p/seq/00000.png\n")
    else:
        for year in ("2016", "2017"):
            (root / "ImageSets" / year).mkdir(parents=True)
            (root / "ImageSets" / year / "val.txt").write_text("seq\n")


def test_davis2016_package_grey_png(tmp_path):
    assert Image.open(FIX / "davis" / "davis2016_00000.png").mode == "L"
    _davis_tree(tmp_path, "davis2016_00000.png", split_list_2016=True)
    for binary in (True, False):  # the 2016 task and the _instance variant: one object, 255 is not void
        (r,) = load_davis(tmp_path, year=2016, split="val", binary=binary)
        (obj,) = r["annotations"][0]
        assert obj["id"] == 1 and len(_pixels(obj)) == 12 and "ignore" not in r


def test_davis2017_package_palette_png_with_void(tmp_path):
    assert Image.open(FIX / "davis" / "davis2017_00000.png").mode == "P"
    _davis_tree(tmp_path, "davis2017_00000.png")
    (r,) = load_davis(tmp_path, year=2017, split="val")
    assert [(a["id"], len(_pixels(a))) for a in r["annotations"][0]] == [(1, 6), (2, 6)]
    assert decode_mask(r["ignore"][0]).sum() == 3
    (b,) = load_davis(tmp_path, year=2016, split="val")  # the 2016 task on the 2017 package
    (obj,) = b["annotations"][0]
    assert len(_pixels(obj)) == 12 and decode_mask(b["ignore"][0]).sum() == 3  # void is not foreground


# ------------------------------------------------------------------ YouTube-VOS
def test_ytvos_meta_json_real_keys(tmp_path):
    videos = read_ytvos_meta(FIX / "ytvos" / "meta.json")
    assert videos["0a7b27fde9"]["objects"]["2"] == {"category": "dog", "frames": ["00005", "00010"]}
    split = tmp_path / "valid"
    split.mkdir()
    shutil.copy(FIX / "ytvos" / "meta.json", split / "meta.json")
    _frames(split / "JPEGImages" / "0a7b27fde9", ["00000.jpg", "00005.jpg", "00010.jpg"], 6, 8)
    first = np.zeros((6, 8), np.uint8)
    first[0:2, 0:2] = 1
    second = np.zeros((6, 8), np.uint8)
    second[4:6, 4:8] = 2
    write_indexed_png(split / "Annotations" / "0a7b27fde9" / "00000.png", first)
    write_indexed_png(split / "Annotations" / "0a7b27fde9" / "00005.png", second)
    (r,) = load_ytvos(tmp_path, split="valid", require_annotations=False)
    assert r["vos_init"] == {0: [1], 1: [2]}  # each object where meta.json first lists it
    assert r["annotations"][2] is None


# ------------------------------------------------------------------ KITTI-MOTS
def test_kitti_mots_official_line(tmp_path):
    entries = read_kitti_mots_txt(FIX / "kitti_mots" / "0002.txt")
    (obj, ign) = entries[0]
    assert obj[:2] == (2001, 2) and ign[:2] == (10000, 10)
    ped = decode_mask(obj[2])
    assert ped.shape == (375, 1242) and ped.sum() == 10 and set(zip(*np.nonzero(ped))) == {(y, 0) for y in range(100, 110)}
    assert set(zip(*np.nonzero(decode_mask(ign[2])))) == {(y, 1) for y in range(5)}
    shutil.copytree(FIX / "kitti_mots", tmp_path / "instances_txt")
    _frames(tmp_path / "training" / "image_02" / "0002", ["000000.png"], 375, 1242)
    (r,) = load_kitti_mots(tmp_path, sequences=["0002"])
    (a,) = r["annotations"][0]
    assert (a["id"], a["category_id"]) == (2001, 1)  # pedestrian = contiguous 1
    assert decode_mask(r["ignore"][0]).sum() == 5


# ------------------------------------------------------------------ YouTube-VIS
def test_ytvis_json_with_polygons_rle_strings_and_rle_lists():
    (r,) = load_ytvis_json(FIX / "ytvis" / "instances.json", FIX / "ytvis", require_annotations=True)
    assert r["video_id"] == 5 and (r["height"], r["width"], r["length"]) == (6, 8, 3)
    f0, f1, f2 = r["annotations"]
    assert [(a["id"], a["category_id"]) for a in f0] == [(1, 0), (2, 1)]  # category ids 1, 26 -> 0, 1
    assert _pixels(f0[0]) == [(y, x) for y in range(1, 4) for x in range(1, 5)]  # polygon
    assert _pixels(f0[1]) == [(0, 0), (1, 0)]  # compressed RLE string
    assert [a["id"] for a in f1] == [2] and _pixels(f1[0]) == [(y, 1) for y in range(6)]  # uncompressed RLE list
    assert [a["id"] for a in f2] == [1] and _pixels(f2[0]) == [(y, x) for y in range(1, 4) for x in range(2, 6)]
    tracks = {t["id"]: t for t in gt_tracks(r, keep_empty=True)}
    assert sorted(tracks) == [1, 2, 3]  # the crowd track with only empty masks is a ground truth too
    assert tracks[3]["iscrowd"] == 1 and tracks[3]["segmentations"] == [None, None, None]
    assert (tracks[1]["area"], tracks[2]["area"], tracks[3]["area"]) == (12.0, 4.0, 0.0)  # json ``areas`` means
