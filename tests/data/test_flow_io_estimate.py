"""Flow files (.flo/.npy/.pfm), OpenCV DIS/Farneback on translated textures, the .flo cache and the mapper hook."""
import os

import cv2
import numpy as np
import pytest
from mapper_testutils import anno, block, small_cfg, write_video

from vidseg.data.flow import (
    FlowSource,
    attach_flow,
    cached_flow_path,
    ensure_video_flow,
    estimate_flow,
    read_flo,
    read_flow_file,
    write_flo,
)
from vidseg.data.io.errors import DatasetFormatError
from vidseg.data.mappers import FlowFrameMapper


def test_flo_round_trip_is_exact_and_bad_magic_raises(tmp_path):
    flow = np.random.default_rng(0).normal(0, 5, size=(7, 11, 2)).astype(np.float32)
    write_flo(tmp_path / "a.flo", flow)
    np.testing.assert_array_equal(read_flow_file(tmp_path / "a.flo"), flow)
    raw = bytearray((tmp_path / "a.flo").read_bytes())
    raw[0:4] = np.array([1.0], "<f4").tobytes()
    (tmp_path / "b.flo").write_bytes(bytes(raw))
    with pytest.raises(DatasetFormatError, match=r"b\.flo: bad \.flo magic"):
        read_flo(tmp_path / "b.flo")


def test_npy_and_pfm_flow(tmp_path):
    flow = np.random.default_rng(1).normal(0, 2, size=(5, 6, 2)).astype(np.float32)
    np.save(tmp_path / "f.npy", flow)
    np.testing.assert_array_equal(read_flow_file(tmp_path / "f.npy"), flow)
    # FlyingThings3D .pfm: 3 channels (u, v, 0), little endian (negative scale), bottom row stored first
    data = np.concatenate([flow, np.zeros((5, 6, 1), np.float32)], axis=2)[::-1]
    (tmp_path / "f.pfm").write_bytes(b"PF\n6 5\n-1.0\n" + np.ascontiguousarray(data, "<f4").tobytes())
    np.testing.assert_array_equal(read_flow_file(tmp_path / "f.pfm"), flow)
    with pytest.raises(DatasetFormatError, match=r"f\.png: unknown flow file suffix"):
        read_flow_file(tmp_path / "f.png")
    (tmp_path / "g.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetFormatError, match=r"g\.npy"):
        read_flow_file(tmp_path / "g.npy")


def _texture(h, w, seed):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(h // 4, w // 4)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img + rng.normal(0, 8, size=(h, w)), 0, 255).astype(np.uint8)


def _translated_square(shift=3):
    """A textured square moved right by ``shift`` px over a static textured background (grey uint8 frames)."""
    h, w, y0, x0, s = 96, 128, 32, 40, 36
    bg, fg = _texture(h, w, 0), _texture(s, s, 1)
    f0, f1 = bg.copy(), bg.copy()
    f0[y0:y0 + s, x0:x0 + s] = fg
    f1[y0:y0 + s, x0 + shift:x0 + shift + s] = fg
    inside = np.zeros((h, w), bool)
    inside[y0 + 8:y0 + s - 8, x0 + 8:x0 + s - 8] = True  # interior, away from the motion boundary
    outside = np.ones((h, w), bool)
    outside[y0 - 12:y0 + s + 12, x0 - 12:x0 + s + shift + 12] = False
    return f0, f1, inside, outside


@pytest.mark.parametrize("method, tol", [("dis", 0.5), ("farneback", 0.75)])
def test_classical_flow_recovers_a_translation(method, tol):
    f0, f1, inside, outside = _translated_square(3)
    flow = estimate_flow(f0, f1, method=method, preset="medium")
    assert flow.shape == (96, 128, 2) and flow.dtype == np.float32
    u, v = np.median(flow[inside, 0]), np.median(flow[inside, 1])
    assert abs(u - 3.0) <= tol and abs(v) <= tol, (u, v)
    assert np.median(np.hypot(flow[outside, 0], flow[outside, 1])) < 0.5


def test_dis_recovers_a_global_shift_in_the_interior():
    tex = _texture(80, 112, 3)
    f0, f1 = tex[:, 4:100], tex[:, 2:98]  # frame 1 = frame 0 moved right by 2 px
    flow = estimate_flow(cv2.cvtColor(f0, cv2.COLOR_GRAY2BGR), cv2.cvtColor(f1, cv2.COLOR_GRAY2BGR))
    interior = flow[10:-10, 10:-10]
    np.testing.assert_allclose(np.median(interior.reshape(-1, 2), axis=0), (2.0, 0.0), atol=0.5)


def test_estimate_flow_rejects_bad_inputs():
    with pytest.raises(ValueError, match="differ in size"):
        estimate_flow(np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match="flow method 'raft'"):
        estimate_flow(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), method="raft")


def _moving_video(tmp_path, n=3):
    f0, _, _, _ = _translated_square(0)
    frames = [cv2.cvtColor(np.roll(f0, 2 * t, axis=1), cv2.COLOR_GRAY2BGR) for t in range(n)]  # whole frame moves
    annos = [[anno(1, 0, block(96, 128, 40 + 2 * t, 32, 76 + 2 * t, 68))] for t in range(n)]
    return write_video(tmp_path, frames, annos)


def test_cache_is_written_next_to_the_frames_once(tmp_path):
    record = _moving_video(tmp_path)
    record.pop("flow_file_names", None)
    names = ensure_video_flow(record, method="dis", preset="fast")
    assert names[-1] is None and len(names) == 3
    for t, name in enumerate(names[:-1]):
        assert name == str(cached_flow_path(record["file_names"][t], method="dis", preset="fast"))
        assert os.path.dirname(os.path.dirname(name)) == os.path.dirname(record["file_names"][t])
        assert np.median(read_flo(name)[40:60, 50:70, 0]) == pytest.approx(2.0, abs=0.5)
    stamp = os.stat(names[0]).st_mtime_ns
    assert ensure_video_flow(record, method="dis", preset="fast") == names
    assert os.stat(names[0]).st_mtime_ns == stamp, "cached flow is not recomputed"
    assert not [p for p in os.listdir(os.path.dirname(names[0])) if p.endswith(".tmp")]
    out = attach_flow([record], progress=False, method="dis", preset="fast", cache_root=str(tmp_path / "cache"))
    assert out[0]["flow_file_names"][0].startswith(str(tmp_path / "cache" / "flow_dis_fast"))


def test_flow_source_keeps_precomputed_flow_and_fills_missing(tmp_path):
    record = _moving_video(tmp_path)
    precomputed = dict(record, flow_file_names=["x.flo", "y.flo", None])
    assert FlowSource(source="dis").prepare(precomputed) is precomputed
    bare = {k: v for k, v in record.items() if k != "flow_file_names"}
    assert FlowSource(source="precomputed").prepare(bare) is bare
    filled = FlowSource(source="farneback").prepare(bare)
    assert filled["flow_file_names"][0].endswith(os.path.join("flow_farneback", "001_000.flo"))
    with pytest.raises(ValueError, match="INPUT.FLOW.SOURCE='raft'"):
        FlowSource(source="raft")


def test_mapper_estimates_and_encodes_missing_flow(tmp_path):
    record = _moving_video(tmp_path)
    record.pop("flow_file_names", None)
    cfg = small_cfg(**{"INPUT.FLOW.SOURCE": "dis", "INPUT.FLOW.DIS_PRESET": "fast", "INPUT.RANDOM_FLIP": "none",
                       "INPUT.MIN_SIZE_TRAIN": (96,), "INPUT.MAX_SIZE_TRAIN": 1000})
    np.random.seed(0)
    out = FlowFrameMapper(cfg, is_train=True)(record)
    (t,) = out["frame_idx"]
    assert t in (0, 1)
    enc = out["flow_image"][0]
    assert enc.shape == (3, 96, 128) and out["flow"][0].shape == (2, 96, 128)
    d = np.hypot(96, 128)
    assert float(enc[1, 40:60, 50:70].median()) == pytest.approx(6 * 2.0 / d, abs=6 * 0.5 / d)
    assert float(enc[2, 40:60, 50:70].median()) == pytest.approx(127.5, abs=10)  # rightward
    test_out = FlowFrameMapper(cfg, is_train=False)(record)
    assert test_out["flow_image"][-1] is None and test_out["flow_image"][0].shape == (3, 96, 128)


def test_prepare_flow_script_writes_into_flow_root(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    from detectron2.data import DatasetCatalog, MetadataCatalog

    record = _moving_video(tmp_path / "frames")
    record.pop("flow_file_names", None)
    name = "moseg_test_prepare_flow"
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: [dict(record)])
    MetadataCatalog.get(name).set(flow_root=str(tmp_path / "flow"))
    path = Path(__file__).resolve().parents[2] / "datasets" / "prepare_flow.py"
    spec = importlib.util.spec_from_file_location("prepare_flow", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--dataset", name, "--preset", "fast"]) == 0
    written = sorted(p.name for p in (tmp_path / "flow" / "1").iterdir())
    assert written == ["001_000.flo", "001_001.flo"]
    assert script.main(["--dataset", "not_registered_xyz"]) == 2
