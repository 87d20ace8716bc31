"""``demo/demo.py``: a synthetic mp4 written here -> a tiny trained model -> overlay mp4 with as many frames as
the input, per-frame PNGs and a YouTube-VIS results.json; frame folders, chunk linking, moseg flow, errors."""
from __future__ import annotations

import importlib.util
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from vidseg.engine.video_predictor import ChunkLinker, VideoPredictor, read_first_frame_masks
from vidseg.data.io.video import VideoInputError
from vidseg.structures.masks import encode_mask

ROOT = Path(__file__).resolve().parents[2]
TINY_IFR = str(ROOT / "configs" / "tests" / "ifr.yaml")
T, H, W = 9, 64, 96
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def _demo():
    spec = importlib.util.spec_from_file_location("vidseg_demo", ROOT / "demo" / "demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(argv) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = _demo().main([str(a) for a in argv])
    return code, err.getvalue()


def _frames() -> list[np.ndarray]:
    out = []
    for t in range(T):
        f = np.full((H, W, 3), 40, np.uint8)
        f[10:30, 5 + 6 * t:25 + 6 * t] = (0, 0, 220)  # a moving red box (BGR)
        f[35:60, 60:80] = (200, 200, 0)
        out.append(f)
    return out


def count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (W, H))
    for f in _frames():
        writer.write(f)
    writer.release()
    assert count_frames(path) == T
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The tiny IFR trained for 2 iterations by train_net.py."""
    from detectron2.engine import default_argument_parser

    import train_net

    out = tmp_path_factory.mktemp("tiny_ifr")
    torch.set_num_threads(1)
    train_net.main(default_argument_parser().parse_args(
        ["--config-file", TINY_IFR, "OUTPUT_DIR", str(out), "SOLVER.MAX_ITER", "2", "DATASETS.TEST", "()"]))
    assert (out / "model_final.pth").is_file()
    return out / "model_final.pth"


def test_video_file_to_overlay_pngs_and_results(tmp_path, video, checkpoint):
    out = tmp_path / "out.mp4"
    code, err = run(["--config-file", TINY_IFR, "--video-input", video, "--output", out, "--chunk", 4,
                     "--confidence-threshold", 0.0, "MODEL.WEIGHTS", checkpoint])
    assert code == 0, err
    assert count_frames(out) == T  # as many frames as the input
    pngs = sorted((tmp_path / "out" / "masks").glob("*.png"))
    assert [p.stem for p in pngs] == [f"{t:05d}" for t in range(T)]
    assert all(Image.open(p).mode == "P" for p in pngs)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results, "the tiny IFR keeps scores near 0.5: it always predicts tracks"
    for r in results:
        assert sorted(r) == ["category_id", "score", "segmentations", "video_id"]
        assert len(r["segmentations"]) == T and 1 <= r["category_id"] <= 3
        assert all(s is None or s["size"] == [H, W] for s in r["segmentations"])
    # chunks of 4 frames share one frame: at least one track was linked across all three chunks
    assert max(sum(s is not None for s in r["segmentations"]) for r in results) == T
    # PNG ids are the tracks drawn on that frame (threshold 0: every track present)
    ids = np.unique(np.array(Image.open(pngs[0])))
    assert set(ids.tolist()) - {0}


def test_frame_folder_whole_video_to_output_folder(tmp_path, checkpoint):
    frames = tmp_path / "frames"
    frames.mkdir()
    for t, f in enumerate(_frames()):
        cv2.imwrite(str(frames / f"img_{t:03d}.png"), f)
    code, err = run(["--config-file", TINY_IFR, "--input", frames, "--output", tmp_path / "res", "--chunk", 0,
                     "--opts", "MODEL.WEIGHTS", checkpoint])
    assert code == 0, err
    assert count_frames(tmp_path / "res" / "overlay.mp4") == T
    assert sorted(p.stem for p in (tmp_path / "res" / "masks").glob("*.png")) == [f"img_{t:03d}" for t in range(T)]


def test_moseg_estimates_flow_on_the_fly(tmp_path, video):
    cfg = str(ROOT / "configs" / "tests" / "moseg_joint.yaml")  # INPUT.FLOW.SOURCE precomputed, no .flo given
    code, err = run(["--config-file", cfg, "--video-input", video, "--output", tmp_path / "m.mp4", "--chunk", 5])
    assert code == 0, err
    assert count_frames(tmp_path / "m.mp4") == T
    flows = list((tmp_path / "m" / "flow").rglob("*.flo"))
    assert len(flows) == T - 1  # every frame pair once (the shared frame's flow is computed by the next chunk)


def test_chunks_share_one_frame_and_hold_at_most_chunk_plus_one():
    pred = VideoPredictor.__new__(VideoPredictor)
    pred.chunk = 4
    chunks = list(pred._chunks((str(t), None, None) for t in range(T)))
    assert [(s, [int(n) for n, _, _ in c], last) for s, c, last in chunks] == [
        (0, [0, 1, 2, 3, 4], False), (4, [4, 5, 6, 7, 8], True)]
    pred.chunk = 0
    assert [len(c) for _, c, _ in pred._chunks((str(t), None, None) for t in range(T))] == [T]


def test_chunk_linker_by_hand():
    def m(x0):
        a = np.zeros((8, 8), np.uint8)
        a[:, x0:x0 + 3] = 1
        return encode_mask(a)

    linker = ChunkLinker(0.5)
    assert linker.link([[m(0), m(0)], [m(4), m(5)]], shares_first_frame=False) == [1, 2]
    # next chunk: its track 0 starts where track 2 ended, track 1 where track 1 ended (IoU 1); track 2 is absent
    # on the shared frame -> new id 3
    assert linker.link([[m(5), m(5)], [m(0), None], [None, m(1)]], shares_first_frame=True) == [2, 1, 3]
    assert set(linker.last) == {2, 3}  # tracks present on this chunk's last frame can be continued next
    assert linker.link([[m(1), None], [m(4), None]], shares_first_frame=True) == [3, 2]  # m(4) vs m(5): IoU 1/2 >= 0.5


def test_bad_inputs_end_with_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "notavideo.mp4"
    bad.write_text("hello")
    code, err = run(["--config-file", TINY_IFR, "--video-input", bad, "--output", tmp_path / "o.mp4"])
    assert code == 2 and err.count("\n") == 1 and f"{bad}: OpenCV cannot read a frame" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = run(["--config-file", TINY_IFR, "--input", empty, "--output", tmp_path / "o.mp4"])
    assert code == 2 and err.strip() == f"error: {empty}: no frames (expected image files .jpg, .jpeg, .png, .bmp, .webp)"
    code, err = run(["--config-file", TINY_IFR, "--video-input", tmp_path / "nope.mp4", "--output", tmp_path / "o"])
    assert code == 2 and "nope.mp4: video file not found" in err
    mask = tmp_path / "mask.png"
    Image.fromarray(np.ones((H + 2, W), np.uint8), mode="L").save(mask)
    with pytest.raises(VideoInputError, match=r"mask\.png: mask of size \(66, 96\) but the frames are \(64, 96\)"):
        read_first_frame_masks(mask, ["00000"], (H, W))


def test_vos_method_with_first_frame_masks(tmp_path, video):
    """ISVOS (tiny, trained 2 iterations) on the mp4 from a palette PNG of the first frame's two objects."""
    from detectron2.engine import default_argument_parser

    import train_net
    from vidseg.data.io.png import write_indexed_png

    cfg = str(ROOT / "configs" / "tests" / "isvos.yaml")
    if not Path(cfg).is_file():
        pytest.skip("no VOS method (configs/tests/isvos.yaml) in this checkout")
    run_dir = tmp_path / "isvos"
    train_net.main(default_argument_parser().parse_args(
        ["--config-file", cfg, "OUTPUT_DIR", str(run_dir), "SOLVER.MAX_ITER", "2", "DATASETS.TEST", "()"]))
    labels = np.zeros((H, W), np.uint8)
    labels[10:30, 5:25] = 1
    labels[35:60, 60:80] = 2
    write_indexed_png(tmp_path / "00000.png", labels)
    code, err = run(["--config-file", cfg, "--video-input", video, "--output", tmp_path / "vos.mp4", "--chunk", 5,
                     "--first-frame-masks", tmp_path / "00000.png", "MODEL.WEIGHTS", run_dir / "model_final.pth"])
    assert code == 0, err
    assert count_frames(tmp_path / "vos.mp4") == T
    results = json.loads((tmp_path / "vos" / "results.json").read_text())
    assert len(results) <= 2 and all(r["category_id"] == 1 for r in results)
    first = np.array(Image.open(tmp_path / "vos" / "masks" / "00000.png"))
    assert set(np.unique(first).tolist()) <= {0, 1, 2}
