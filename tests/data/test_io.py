"""Format I/O: .flo, indexed PNG, KITTI-MOTS txt, RLE helpers, robust image reading."""
import numpy as np
import pycocotools.mask as mask_util
import pytest
from PIL import Image

from vidseg.data.io import (
    DatasetFormatError,
    davis_palette,
    read_flo,
    read_image,
    read_indexed_png,
    read_kitti_mots_txt,
    write_flo,
    write_indexed_png,
    write_kitti_mots_txt,
)
from vidseg.structures.masks import decode_mask, decode_masks, encode_masks, segm_to_rle, uncompressed_to_rles


def test_flo_round_trip_and_layout(tmp_path):
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 5, size=(7, 11, 2)).astype(np.float32)
    p = tmp_path / "sub" / "a.flo"
    write_flo(p, flow)
    raw = p.read_bytes()
    # Middlebury layout: magic float, width, height, then row-major interleaved (u, v)
    assert np.frombuffer(raw[:4], "<f4")[0] == np.float32(202021.25)
    assert tuple(np.frombuffer(raw[4:12], "<i4")) == (11, 7)
    assert len(raw) == 12 + 7 * 11 * 2 * 4
    assert np.frombuffer(raw[12:20], "<f4").tolist() == flow[0, 0].tolist()
    back = read_flo(p)
    assert back.dtype == np.float32 and back.shape == (7, 11, 2)
    np.testing.assert_array_equal(back, flow)


def test_flo_bad_magic_and_truncated(tmp_path):
    p = tmp_path / "bad.flo"
    p.write_bytes(np.array([1.0], "<f4").tobytes() + np.array([2, 2], "<i4").tobytes() + bytes(32))
    with pytest.raises(DatasetFormatError, match=r"bad\.flo.*magic"):
        read_flo(p)
    write_flo(p, np.zeros((3, 4, 2), np.float32))
    p.write_bytes(p.read_bytes()[:-4])
    with pytest.raises(DatasetFormatError, match="bad.flo"):
        read_flo(p)
    with pytest.raises(DatasetFormatError, match="missing.flo"):
        read_flo(tmp_path / "missing.flo")


def test_davis_palette_values():
    pal = davis_palette()
    assert pal.shape == (256, 3)
    assert pal[:6].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128]]
    assert pal[8].tolist() == [64, 0, 0]  # bit 3 of the index lands in bit 6 of red


def test_indexed_png_round_trip_with_palette(tmp_path):
    labels = np.zeros((5, 6), np.uint8)
    labels[1:3, 2:5] = 1
    labels[4, :] = 2
    labels[0, 0] = 255
    p = tmp_path / "x" / "00000.png"
    write_indexed_png(p, labels)
    with Image.open(p) as img:
        assert img.mode == "P"
        assert img.getpalette()[3:9] == [128, 0, 0, 0, 128, 0]
        # the RGB rendering uses the DAVIS colours
        assert np.asarray(img.convert("RGB"))[1, 2].tolist() == [128, 0, 0]
    np.testing.assert_array_equal(read_indexed_png(p), labels)
    custom = np.tile(np.arange(256, dtype=np.uint8)[:, None], (1, 3))
    write_indexed_png(p, labels, palette=custom)
    with Image.open(p) as img:
        assert img.getpalette()[3:6] == [1, 1, 1]
    np.testing.assert_array_equal(read_indexed_png(p), labels)


def test_indexed_png_rejects_rgb_and_garbage(tmp_path):
    p = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(p)
    with pytest.raises(DatasetFormatError, match="rgb.png.*mode RGB"):
        read_indexed_png(p)
    q = tmp_path / "junk.png"
    q.write_bytes(b"not a png")
    with pytest.raises(DatasetFormatError, match="junk.png"):
        read_indexed_png(q)
    with pytest.raises(ValueError, match="0, 255"):
        write_indexed_png(tmp_path / "o.png", np.full((2, 2), 300))


def test_kitti_mots_txt_round_trip(tmp_path):
    m = np.zeros((2, 6, 8), np.uint8)
    m[0, 1:4, 2:5] = 1
    m[1, 5, :] = 1
    rles = encode_masks(m)
    frames = {3: [(1002, 1, rles[0]), (10000, 10, rles[1])], 0: [(2001, 2, rles[1])]}
    p = tmp_path / "0000.txt"
    write_kitti_mots_txt(p, frames)
    lines = p.read_text().splitlines()
    assert lines[0] == f"0 2001 2 6 8 {rles[1]['counts']}"
    assert lines[1].startswith("3 1002 1 6 8 ")
    back = read_kitti_mots_txt(p)
    assert sorted(back) == [0, 3]
    assert [(o, c) for o, c, _ in back[3]] == [(1002, 1), (10000, 10)]
    assert decode_mask(back[3][0][2]).sum() == 9
    np.testing.assert_array_equal(decode_mask(back[3][1][2]), m[1])


def test_kitti_mots_txt_malformed_line(tmp_path):
    p = tmp_path / "0001.txt"
    p.write_text("0 1001 1 6 8 `1\n1 1001 1 6\n")  # line 1: an empty 6x8 mask
    with pytest.raises(DatasetFormatError, match=r"0001\.txt:2.*4 fields"):
        read_kitti_mots_txt(p)


def test_rle_helpers_polygon_uncompressed_and_masks():
    # a 4x3 axis-aligned rectangle polygon covers exactly 12 pixels in COCO rasterisation
    rle = segm_to_rle([[2, 1, 6, 1, 6, 4, 2, 4]], 8, 10)
    assert isinstance(rle["counts"], str) and rle["size"] == [8, 10]
    assert int(mask_util.area({"size": rle["size"], "counts": rle["counts"].encode()})) == 12
    mask = np.zeros((5, 4), np.uint8)
    mask[1:3, 1] = 1  # column-major runs: 5 zeros, 2 ones, 13 zeros
    unc = {"size": [5, 4], "counts": [6, 2, 12]}
    for r in (segm_to_rle(unc, 5, 4), uncompressed_to_rles([unc], 5, 4)[0]):
        np.testing.assert_array_equal(decode_mask(r), mask)
    assert segm_to_rle(None, 5, 4) is None
    with pytest.raises(ValueError, match="differs"):
        segm_to_rle(unc, 4, 5)
    masks = np.random.default_rng(1).random((3, 7, 9)) > 0.5
    np.testing.assert_array_equal(decode_masks(encode_masks(masks), 7, 9), masks)
    assert decode_masks([], 7, 9).shape == (0, 7, 9)


def test_read_image_corrupt_and_missing(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(np.full((6, 8, 3), (10, 20, 30), np.uint8)).save(good, quality=95)
    img = read_image(good, format="BGR")
    assert img.shape == (6, 8, 3) and abs(int(img[0, 0, 0]) - 30) <= 3  # BGR: blue first
    corrupt = tmp_path / "video" / "00003.jpg"
    corrupt.parent.mkdir()
    corrupt.write_bytes(good.read_bytes()[:40])
    with pytest.raises(DatasetFormatError) as e:
        read_image(corrupt, format="BGR")
    assert str(corrupt) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(DatasetFormatError, match="nothere.jpg: image file not found"):
        read_image(tmp_path / "nothere.jpg")
