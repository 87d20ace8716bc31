"""The data, oracles and per-frame mIoU of the IFR consistency experiment (``benchmarks/ifr_consistency_data.py``)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vidseg.structures.masks import encode_mask
from vidseg.structures.video_instances import VideoInstances

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def data():
    spec = importlib.util.spec_from_file_location("ifr_consistency_data", ROOT / "benchmarks" / "ifr_consistency_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(video, vid: int = 0) -> dict:
    """The ground truth of one video as the YouTube-VIS loader returns it (visible objects per frame)."""
    k, length = video.masks.shape[:2]
    anns = [[{"id": j + 1, "category_id": 0, "segmentation": encode_mask(video.masks[j, t]), "iscrowd": 0}
             for j in range(k) if video.masks[j, t].any()] for t in range(length)]
    return {"video_id": vid, "height": video.masks.shape[2], "width": video.masks.shape[3], "annotations": anns}


def test_videos_have_crossing_occluding_objects_that_enter_and_leave(data):
    videos = data.make_split(5, 6, identical=False, size=64, length=24)
    for video, rects in videos:
        k, length = video.masks.shape[:2]
        assert 3 <= k <= 4 and set(video.classes) == {0}
        assert (video.masks.sum(0) <= 1).all()  # visible masks are disjoint
        visible = video.masks.reshape(k, length, -1).any(-1)
        assert (~visible).any()  # some object is outside the frame at some time (enters or leaves)
        full = ((rects[..., 2] - rects[..., 0]) * (rects[..., 3] - rects[..., 1]))[..., None]
        assert (video.masks.reshape(k, length, -1).sum(-1)[visible] < full[..., 0][visible] - 1).any()  # occlusion
    crossings = sum(data._overlap(r[a, t], r[b, t]) for _, r in videos for t in range(24)
                    for a in range(len(r)) for b in range(a + 1, len(r)))
    assert crossings > 0


def test_identical_set_gives_all_objects_of_a_video_one_look(data):
    (video, _), = data.make_split(3, 1, identical=True, size=64, length=24)
    (textured, _), = data.make_split(3, 1, identical=False, size=64, length=24)
    def colours(v):
        return [{tuple(c) for c in v.frames[t][v.masks[j, t]]} for j in range(len(v.masks)) for t in (12,)
                if v.masks[j, t].sum() > 30]
    looks = colours(video)
    assert len(looks) >= 2 and all(look == looks[0] for look in looks)  # the same two colours on every object
    other = colours(textured)
    assert len({frozenset(c) for c in other}) == len(other)  # distinct textures


def test_oracles_and_per_frame_miou(data):
    videos = data.make_split(11, 4, identical=False, size=64, length=24)
    records = [_record(v, i) for i, (v, _) in enumerate(videos)]
    perfect = data.oracle_predictions(videos, records, swap=False)
    swap = data.oracle_predictions(videos, records, swap=True)
    assert data.per_frame_miou(records, perfect) == pytest.approx(1.0)
    assert data.per_frame_miou(records, swap) == pytest.approx(1.0)  # identity-agnostic
    swapped = [v for v in records if not all(
        np.array_equal(perfect[v["video_id"]].dense(i), swap[v["video_id"]].dense(i))
        for i in range(len(perfect[v["video_id"]])))]
    assert swapped  # the swap oracle exchanges identities somewhere
    # one object predicted with half its pixels in every frame, nothing else: mIoU = 0.5 / number of objects
    video, _ = videos[0]
    half = video.masks[:1].copy()
    for t in range(half.shape[1]):
        ys, xs = np.nonzero(half[0, t])
        half[0, t][ys[len(ys) // 2:], xs[len(xs) // 2:]] = False
    pred = {0: VideoInstances.from_dense(half, [1.0], [0])}
    vis = video.masks.reshape(len(video.masks), 24, -1).any(-1)
    expected = sum(half[0, t].sum() / video.masks[0, t].sum() for t in range(24) if vis[0, t]) / vis.sum()
    assert data.per_frame_miou(records[:1], pred) == pytest.approx(expected)


def test_plateau_rule_stops_only_when_recent_evaluations_add_less_than_delta(data, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # the plateau module imports the data module by name
    spec = importlib.util.spec_from_file_location("ifr_consistency_plateau",
                                                  ROOT / "benchmarks" / "ifr_consistency_plateau.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reached = module.plateau_reached
    assert not reached([10.0, 20.0], patience=2, delta=1.0)  # too few evaluations to judge
    assert not reached([10.0, 20.0, 30.0], patience=2, delta=1.0)  # still climbing
    assert not reached([10.0, 20.0, 20.5, 21.2], patience=2, delta=1.0)  # best of last two: +1.2 over 20.0
    assert reached([10.0, 20.0, 20.5, 20.9], patience=2, delta=1.0)  # +0.9 < 1.0
    assert reached([10.0, 30.0, 25.0, 29.0], patience=2, delta=1.0)  # got worse
    assert not reached([30.0, 10.0, 20.0, 31.5], patience=1, delta=1.0)
