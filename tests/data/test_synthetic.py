"""Built-in synthetic data: determinism, exact flow, real-format trees loaded by the real loaders."""
import multiprocessing as mp

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

import vidseg.data  # noqa: F401  (registers the synth_* names)
from vidseg.data.datasets.synthetic import PRESETS, ensure_synthetic, render_split, render_video, write_split
from vidseg.data.datasets.synthetic.generate import DONE
from vidseg.data.io import read_flo
from vidseg.structures.masks import decode_mask

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp_:
        root = tmp_path_factory.mktemp("synth")
        mp_.setenv("VIDSEG_SYNTH_ROOT", str(root))
        yield root


def _tree_bytes(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("task", ["vis", "moseg", "mots", "vos"])
def test_tiny_generation_is_byte_identical(tmp_path, task):
    write_split(tmp_path / "a", task, "train", "tiny")
    write_split(tmp_path / "b", task, "train", "tiny")
    a, b = _tree_bytes(tmp_path / "a"), _tree_bytes(tmp_path / "b")
    assert len(a) > TINY.num_videos["train"] * TINY.num_frames and a == b


def test_train_and_val_differ_and_scene_properties():
    train, val = render_split("vis", "train", "tiny"), render_split("vis", "val", "tiny")
    assert len(train) == 6 and len(val) == 4
    assert not np.array_equal(train[0].frames, val[0].frames)
    for v in train + val:
        assert v.frames.shape == (8, 64, 96, 3) and v.frames.dtype == np.uint8
        assert 2 <= len(v.classes) <= 3 and set(v.classes) <= {0, 1, 2}
        # a pixel belongs to at most one mover (z-order) and never to the distractor as well
        assert (v.masks.sum(0) <= 1).all() and not (v.masks.any(0) & v.distractor_masks).any()
        assert v.distractor_class == -1
    # the first mover of every third video (i % 3 == 1) enters the frame after frame 0
    for v in train[1::3] + val[1::3]:
        assert not v.masks[0, 0].any() and v.masks[0].any()


def _bilinear(img, x, y):
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    ax, ay = (x - x0)[:, None], (y - y0)[:, None]
    return ((1 - ax) * (1 - ay) * img[y0, x0] + ax * (1 - ay) * img[y0, x0 + 1]
            + (1 - ax) * ay * img[y0 + 1, x0] + ax * ay * img[y0 + 1, x0 + 1])


def test_flow_is_exact_on_moving_pixels():
    errs, base = [], []
    for seed in range(4):
        v = render_video((99, seed), num_frames=6, height=64, width=96, distractor="class")
        f = v.frames.astype(np.float64)
        owner = np.zeros(v.masks.shape[1:], np.int64)
        for k in range(len(v.classes)):
            owner[v.masks[k]] = k + 1
        for t in range(5):
            moving = owner[t] > 0
            assert (v.flows[t][~moving] == 0).all()  # background and static distractor do not move
            ys, xs = np.nonzero(moving)
            u, w = v.flows[t][ys, xs, 0], v.flows[t][ys, xs, 1]
            assert (np.hypot(u, w) > 0.1).mean() > 0.9
            x1, y1 = xs + u, ys + w
            ok = (x1 >= 0) & (y1 >= 0) & (x1 < 95) & (y1 < 63)
            xs, ys, x1, y1 = xs[ok], ys[ok], x1[ok], y1[ok]
            fx, fy = np.floor(x1).astype(int), np.floor(y1).astype(int)
            k = owner[t][ys, xs]
            same = np.ones_like(k, bool)  # all 4 bilinear neighbours show the same object at t+1 (not occluded)
            for dy in (0, 1):
                for dx in (0, 1):
                    same &= owner[t + 1][fy + dy, fx + dx] == k
            src = f[t][ys[same], xs[same]]
            errs.append(np.abs(_bilinear(f[t + 1], x1[same], y1[same]) - src).mean(1))
            base.append(np.abs(f[t + 1][ys[same], xs[same]] - src).mean(1))
    err, ref = np.concatenate(errs), np.concatenate(base)
    assert err.size > 1000
    assert err.mean() < 1.5 and np.percentile(err, 99) < 6
    assert ref.mean() > 10 * err.mean()  # without the flow the pixels do not match


def test_synth_vis_through_ytvis_loader(synth_root):
    recs = DatasetCatalog.get("synth_vis_train")
    videos = render_split("vis", "train", "tiny")
    assert len(recs) == 6 and MetadataCatalog.get("synth_vis_train").thing_classes == ["square", "disk", "triangle"]
    for r, v in zip(recs, videos):
        assert r["length"] == 8 == len(r["file_names"]) and (r["height"], r["width"]) == (64, 96)
        assert r["dataset_name"] == "synth_vis_train"
        for t, objs in enumerate(r["annotations"]):
            drawn = {k for k in range(len(v.classes)) if v.masks[k, t].any()}
            assert len(objs) == len(drawn)
            for a in objs:
                k = next(k for k in drawn if np.array_equal(decode_mask(a["segmentation"]), v.masks[k, t]))
                assert a["category_id"] == v.classes[k]
                assert not (decode_mask(a["segmentation"]) & v.distractor_masks[t]).any()
        ids = {a["id"] for objs in r["annotations"] for a in objs}
        assert len(ids) == sum(v.masks[k].any() for k in range(len(v.classes)))
    assert (synth_root / "tiny_vis_train" / DONE).is_file()


def test_synth_vos_through_davis_loader(synth_root):
    recs = DatasetCatalog.get("synth_vos_val")
    videos = render_split("vos", "val", "tiny")
    assert MetadataCatalog.get("synth_vos_val").vos_protocol == "ytvos"
    for r, v in zip(recs, videos):
        visible = v.masks.reshape(len(v.classes), 8, -1).any(2)
        first = {k + 1: int(np.argmax(visible[k])) for k in range(len(v.classes)) if visible[k].any()}
        expect = {}
        for obj, t in sorted(first.items()):
            expect.setdefault(t, []).append(obj)
        assert r["vos_init"] == expect
    assert any(t > 0 for r in recs for t in r["vos_init"])  # a late-appearing object


def test_synth_moseg_through_fbms_loader(synth_root):
    recs = DatasetCatalog.get("synth_moseg_val")
    videos = render_split("moseg", "val", "tiny")
    for r, v in zip(recs, videos):
        assert r["eval_frames"] == [0, 3, 6]
        assert [t for t, a in enumerate(r["annotations"]) if a is not None] == [0, 3, 6]
        assert v.distractor_class in v.classes  # a static object that looks like a mover
        for t in r["eval_frames"]:
            masks = {a["id"]: decode_mask(a["segmentation"]) for a in r["annotations"][t]}
            for k in range(len(v.classes)):
                assert np.array_equal(masks.get(k + 1, np.zeros((64, 96), np.uint8)), v.masks[k, t])
        assert len(r["flow_file_names"]) == 8 and r["flow_file_names"][-1] is None
        np.testing.assert_array_equal(read_flo(r["flow_file_names"][2]), v.flows[2])
    train = DatasetCatalog.get("synth_moseg_train")
    assert all(r["eval_frames"] == list(range(8)) for r in train)


def test_synth_mots_through_kitti_loader(synth_root):
    recs = DatasetCatalog.get("synth_mots_train")
    videos = render_split("mots", "train", "tiny")
    assert MetadataCatalog.get("synth_mots_train").thing_classes == ["car", "pedestrian"]
    for r, v in zip(recs, videos):
        for t in range(8):
            assert np.array_equal(decode_mask(r["ignore"][t]) if r["ignore"][t] else 0 * v.distractor_masks[t],
                                  v.distractor_masks[t])
            for a in r["annotations"][t]:
                k = a["id"] % 1000 - 1
                assert a["id"] // 1000 == v.classes[k] + 1 and a["category_id"] == v.classes[k]
                assert np.array_equal(decode_mask(a["segmentation"]), v.masks[k, t])


def _ensure(q):
    q.put(str(ensure_synthetic("vis", "val", "tiny")))


def test_concurrent_generation_is_safe(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSEG_SYNTH_ROOT", str(tmp_path))
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_ensure, args=(q,)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    out = {q.get(timeout=5), q.get(timeout=5)}
    assert out == {str(tmp_path / "tiny_vis_val")}
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".tiny_vis_val.lock")) == ["tiny_vis_val"]
    stamp = (tmp_path / "tiny_vis_val" / "annotations.json").stat().st_mtime_ns
    assert ensure_synthetic("vis", "val", "tiny") == tmp_path / "tiny_vis_val"  # reused, not rewritten
    assert (tmp_path / "tiny_vis_val" / "annotations.json").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_large_preset_generation(tmp_path):
    write_split(tmp_path, "vis", "train", "large")
    assert len(list((tmp_path / "JPEGImages").iterdir())) == 60
