"""FBMS-59 and KITTI-MOTS loaders on hand-written trees."""
import numpy as np
import pytest
from PIL import Image

from vidseg.data.datasets.fbms import load_fbms, read_fbms_def, write_fbms_def
from vidseg.data.datasets.kitti_mots import load_kitti_mots
from vidseg.data.io import DatasetFormatError, write_flo, write_kitti_mots_txt
from vidseg.structures.masks import decode_mask, encode_masks

H, W = 8, 10
RED, WHITE = 255 * 65536, 16777215


def _frames(folder, n, ext=".jpg", name="cars1_{:02d}"):
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(folder / (name.format(t + 1) + ext))


def _fbms_tree(root, n=12, annotated=(0, 4, 9)):
    seq = root / "Trainingset" / "cars1"
    _frames(seq, n)
    gt = seq / "GroundTruth"
    gt.mkdir()
    listed = []
    for f in annotated:
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[1:3, 1:4] = (255, 0, 0)  # region 1 (red): 6 px
        rgb[5:8, 5:9] = (255, 255, 255)  # region 2 (white): 12 px
        rgb[0, 9] = (0, 255, 0)  # a colour missing from the table -> background
        Image.fromarray(rgb).save(gt / f"cars1_{f + 1:02d}_gt.ppm")
        listed.append((f, f"cars1_{f + 1:02d}_gt.ppm", f"cars1_{f + 1:02d}.jpg"))
    write_fbms_def(gt / "cars1Def.dat", colors=[0, RED, WHITE], num_frames=n, frames=listed)
    return seq


def test_fbms_def_round_trip(tmp_path):
    p = tmp_path / "xDef.dat"
    frames = [(3, "x_04_gt.ppm", "x_04.jpg"), (0, "x_01_gt.ppm", "x_01.jpg")]
    write_fbms_def(p, colors=[0, RED], num_frames=5, frames=frames)
    text = p.read_text()
    assert text.startswith("Ground truth definition file; do not change!\n\nTotal number of regions:\n2\n")
    gt = read_fbms_def(p)
    assert gt.colors == [0, RED] and gt.num_frames == 5
    assert gt.frames == [(0, tmp_path / "x_01_gt.ppm"), (3, tmp_path / "x_04_gt.ppm")]


def test_fbms_sparse_annotations(tmp_path):
    _fbms_tree(tmp_path)
    (r,) = load_fbms(tmp_path, split="Trainingset")
    assert r["video_id"] == "cars1" and r["length"] == 12 and (r["height"], r["width"]) == (H, W)
    assert r["eval_frames"] == [0, 4, 9]
    assert [t for t, a in enumerate(r["annotations"]) if a is not None] == [0, 4, 9]
    objs = r["annotations"][4]
    assert [a["id"] for a in objs] == [1, 2]
    assert [int(decode_mask(a["segmentation"]).sum()) for a in objs] == [6, 12]
    assert objs[1]["bbox"] == [5.0, 5.0, 4.0, 3.0]
    assert r["file_names"][9].endswith("cars1_10.jpg")  # natural order, frame 9 = 10th file
    assert "flow_file_names" not in r


def test_fbms_grey_ground_truth_and_flow(tmp_path):
    seq = _fbms_tree(tmp_path, n=3, annotated=(1,))
    pgm = np.zeros((H, W), np.uint8)
    pgm[0:2, 0:2] = 255
    Image.fromarray(pgm).save(seq / "GroundTruth" / "grey.pgm")
    write_fbms_def(seq / "GroundTruth" / "cars1Def.dat", colors=[0, 255], num_frames=3,  # .pgm: grey value
                   frames=[(1, "grey.pgm", "cars1_02.jpg")])
    flow_root = tmp_path / "flow"
    for t in (1, 2):
        write_flo(flow_root / "cars1" / f"cars1_{t:02d}.flo", np.zeros((H, W, 2), np.float32))
    (r,) = load_fbms(tmp_path, split="Trainingset", flow_root=flow_root)
    assert decode_mask(r["annotations"][1][0]["segmentation"]).sum() == 4
    assert r["flow_file_names"][2] is None and r["flow_file_names"][0].endswith("cars1_01.flo")


def test_fbms_grey_value_is_the_colour_and_frames_in_two_formats_count_once(tmp_path):
    seq = _fbms_tree(tmp_path, n=3, annotated=(0,))
    for t in range(3):  # the same frames also as .ppm
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(seq / f"cars1_{t + 1:02d}.ppm")
    pgm = np.zeros((H, W), np.uint8)
    pgm[0:2, 0:3] = 255  # 6 px of grey 255
    pgm[4:6, 0:2] = 128  # 4 px of grey 128
    Image.fromarray(pgm).save(seq / "GroundTruth" / "g.pgm")
    write_fbms_def(seq / "GroundTruth" / "cars1Def.dat", colors=[0, 128, 255], num_frames=3,
                   frames=[(0, "g.pgm", "cars1_01.jpg")])
    (r,) = load_fbms(tmp_path, split="Trainingset")
    assert r["length"] == 3 and all(f.endswith(".jpg") for f in r["file_names"])
    assert [int(decode_mask(a["segmentation"]).sum()) for a in r["annotations"][0]] == [4, 6]
    # a 24-bit colour code for a grey image matches nothing (the official rule: the grey value is the colour)
    write_fbms_def(seq / "GroundTruth" / "cars1Def.dat", colors=[0, WHITE], num_frames=3,
                   frames=[(0, "g.pgm", "cars1_01.jpg")])
    (r,) = load_fbms(tmp_path, split="Trainingset")
    assert r["annotations"][0] == []


def test_fbms_errors(tmp_path):
    with pytest.raises(DatasetFormatError, match=r"Trainingset: FBMS split folder not found"):
        load_fbms(tmp_path, split="Trainingset")
    _fbms_tree(tmp_path, n=5, annotated=(0, 7))  # frame 7 of a 5-frame sequence
    with pytest.raises(DatasetFormatError, match=r"cars1Def\.dat: annotated frame 7 but .* has 5 frames"):
        load_fbms(tmp_path, split="Trainingset")
    d = tmp_path / "Trainingset" / "cars1" / "GroundTruth" / "cars1Def.dat"
    d.write_text("Ground truth definition file; do not change!\nTotal number of regions:\ntwo\n")
    with pytest.raises(DatasetFormatError, match=r"cars1Def\.dat: number of regions"):
        load_fbms(tmp_path, split="Trainingset")


def _mots_tree(root):
    img = root / "training" / "image_02" / "0002"
    img.mkdir(parents=True)
    for t in range(4):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(img / f"{t:06d}.png")
    m = np.zeros((3, H, W), np.uint8)
    m[0, 0:2, 0:3] = 1  # car, 6 px
    m[1, 4:8, 6:8] = 1  # pedestrian, 8 px
    m[2, 7, :] = 1  # ignore, 10 px
    car, ped, ign = encode_masks(m)
    ign2 = encode_masks(np.roll(m[2:3], -1, axis=1))[0]  # row 6
    write_kitti_mots_txt(root / "instances_txt" / "0002.txt", {
        0: [(1001, 1, car), (2005, 2, ped), (10000, 10, ign), (10000, 10, ign2)],
        2: [(1001, 1, car)],
    })


def test_kitti_mots_loader(tmp_path):
    _mots_tree(tmp_path)
    (r,) = load_kitti_mots(tmp_path, sequences=["0002"])
    assert r["video_id"] == "0002" and r["length"] == 4 and (r["height"], r["width"]) == (H, W)
    assert [(a["id"], a["category_id"]) for a in r["annotations"][0]] == [(1001, 0), (2005, 1)]
    assert r["annotations"][1] == [] and r["annotations"][3] == []
    assert decode_mask(r["annotations"][0][1]["segmentation"]).sum() == 8
    assert r["annotations"][0][1]["bbox"] == [6.0, 4.0, 2.0, 4.0]
    ign = decode_mask(r["ignore"][0])
    assert ign.sum() == 20 and ign[6:8].all()  # two ignore lines merged
    assert r["ignore"][1] is None and r["ignore"][2] is None


def test_kitti_mots_errors(tmp_path):
    with pytest.raises(DatasetFormatError, match="KITTI-MOTS root not found"):
        load_kitti_mots(tmp_path / "kitti_mots", sequences=["0002"])
    _mots_tree(tmp_path)
    with pytest.raises(DatasetFormatError, match=r"0003\.txt: MOTS instance txt not found"):
        load_kitti_mots(tmp_path, sequences=["0003"])
    m = encode_masks(np.ones((1, H, W), np.uint8))[0]
    write_kitti_mots_txt(tmp_path / "instances_txt" / "0002.txt", {9: [(1001, 1, m)]})
    with pytest.raises(DatasetFormatError, match=r"0002\.txt: annotation for frame 9 but .* has 4 frames"):
        load_kitti_mots(tmp_path, sequences=["0002"])
