"""Train loader (per-dataset mappers, mixing ratios, seeded sharded sampler) and per-video test loader."""
import itertools
from collections import Counter

import numpy as np
import pytest
from mapper_testutils import anno, block, coloured_objects_video, small_cfg, write_video

from vidseg.data.build import (
    MixedDatasetSampler,
    build_train_mappers,
    build_video_test_loader,
    build_video_train_loader,
)
from vidseg.data.mappers import ImageToClipMapper, VideoClipMapper



def _tag_mapper(record):
    return {"dataset_name": record["dataset_name"], "video_id": record["video_id"]}


def test_sampler_ratios_counts():
    sampler = MixedDatasetSampler([3, 30], [3.0, 1.0], seed=0, rank=0, world_size=1)
    draws = list(itertools.islice(iter(sampler), 8000))
    share = sum(i < 3 for i in draws) / len(draws)
    assert abs(share - 0.75) < 0.02  # binomial sd ≈ 0.005
    counts = Counter(i for i in draws if i >= 3)  # uniform inside the second dataset
    assert set(counts) == set(range(3, 33)) and max(counts.values()) < 2 * min(counts.values())


def test_sampler_proportional_epochs_and_determinism():
    sampler = MixedDatasetSampler([4, 6], None, seed=5, rank=0, world_size=1)
    stream = list(itertools.islice(iter(sampler), 30))
    for e in range(3):  # every epoch visits each of the 10 items once
        assert sorted(stream[10 * e: 10 * e + 10]) == list(range(10))
    again = list(itertools.islice(iter(MixedDatasetSampler([4, 6], None, seed=5, rank=0, world_size=1)), 30))
    other = list(itertools.islice(iter(MixedDatasetSampler([4, 6], None, seed=6, rank=0, world_size=1)), 30))
    assert stream == again and stream != other


def test_sampler_shards_over_ranks():
    full = list(itertools.islice(iter(MixedDatasetSampler([5, 7], [1, 2], seed=1, rank=0, world_size=1)), 40))
    r0 = list(itertools.islice(iter(MixedDatasetSampler([5, 7], [1, 2], seed=1, rank=0, world_size=2)), 20))
    r1 = list(itertools.islice(iter(MixedDatasetSampler([5, 7], [1, 2], seed=1, rank=1, world_size=2)), 20))
    assert r0 == full[0::2] and r1 == full[1::2]


def test_sampler_rejects_bad_ratios():
    with pytest.raises(ValueError, match="DATASETS.TRAIN_RATIOS"):
        MixedDatasetSampler([3, 4], [1.0], seed=0, rank=0, world_size=1)
    with pytest.raises(ValueError, match="DATASETS.TRAIN_RATIOS"):
        MixedDatasetSampler([3, 4], [1.0, -1.0], seed=0, rank=0, world_size=1)


def test_train_loader_mixes_datasets_by_ratio(register):
    a = register("_vidseg_test_mix_a", [{"video_id": i} for i in range(2)])
    b = register("_vidseg_test_mix_b", [{"video_id": 100 + i} for i in range(20)])
    cfg = small_cfg()
    cfg.DATASETS.TRAIN = (a, b)
    cfg.DATASETS.TRAIN_RATIOS = (1.0, 1.0)
    cfg.SOLVER.IMS_PER_BATCH = 4
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SEED = 7
    loader = build_video_train_loader(cfg, mappers=[_tag_mapper, _tag_mapper])
    batches = list(itertools.islice(iter(loader), 500))
    assert all(len(batch) == 4 for batch in batches)
    items = [x for batch in batches for x in batch]
    share_a = sum(x["dataset_name"] == a for x in items) / len(items)
    assert abs(share_a - 0.5) < 0.04
    assert all((x["video_id"] < 100) == (x["dataset_name"] == a) for x in items)
    cfg.DATASETS.TRAIN_RATIOS = ()  # proportional to size: 2 of 22
    items = [x for batch in itertools.islice(iter(build_video_train_loader(cfg, mappers=[_tag_mapper] * 2)), 55)
             for x in batch]
    assert sum(x["dataset_name"] == a for x in items) == 20  # exactly 2 per epoch of 22, 10 epochs


def test_per_dataset_mapper_selection(register, tmp_path):
    record, _ = coloured_objects_video(tmp_path / "v")
    video_ds = register("_vidseg_test_video", [record])
    img = np.full((20, 30, 3), 90, np.uint8)
    image_record = write_video(tmp_path / "i", [img], [None])  # only for its file
    coco = {"file_name": image_record["file_names"][0], "height": 20, "width": 30, "image_id": 3,
            "annotations": [anno(0, 0, block(20, 30, 2, 2, 9, 9))]}
    image_ds = register("_vidseg_test_image", [coco])
    cfg = small_cfg()
    cfg.DATASETS.TRAIN = (video_ds, image_ds)
    cfg.DATASETS.TRAIN_MAPPERS = ("VideoClipMapper", "ImageToClipMapper")
    mappers = build_train_mappers(cfg)
    assert [type(m) for m in mappers] == [VideoClipMapper, ImageToClipMapper]
    cfg.DATASETS.TRAIN_MAPPERS = ()
    assert [type(m) for m in build_train_mappers(cfg)] == [VideoClipMapper, VideoClipMapper]
    cfg.DATASETS.TRAIN_MAPPERS = ("VideoClipMapper",)
    with pytest.raises(ValueError, match="DATASETS.TRAIN_MAPPERS has 1 entries but DATASETS.TRAIN has 2"):
        build_train_mappers(cfg)

    cfg.DATASETS.TRAIN_MAPPERS = ("VideoClipMapper", "ImageToClipMapper")
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SEED = 0
    items = [x for batch in itertools.islice(iter(build_video_train_loader(cfg)), 4) for x in batch]
    by_name = {x["dataset_name"]: x for x in items}
    assert set(by_name) == {video_ds, image_ds}
    assert by_name[image_ds]["frame_idx"] == [0, 0] and by_name[image_ds]["video_id"] == 3
    assert len(by_name[video_ds]["image"]) == 2 and by_name[video_ds]["video_id"] == 1


def test_train_loader_redraws_none_and_reports_unknown_dataset(register):
    ds = register("_vidseg_test_none", [{"video_id": i} for i in range(6)])
    cfg = small_cfg()
    cfg.DATASETS.TRAIN = (ds,)
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SEED = 3
    odd_only = lambda r: _tag_mapper(r) if r["video_id"] % 2 else None  # noqa: E731
    items = [x for b in itertools.islice(iter(build_video_train_loader(cfg, mappers=[odd_only])), 20) for x in b]
    assert len(items) == 40 and all(x["video_id"] % 2 for x in items)
    cfg.DATASETS.TRAIN = ("_vidseg_test_not_registered",)
    with pytest.raises(ValueError, match="'_vidseg_test_not_registered' is not registered"):
        build_video_train_loader(cfg, mappers=[_tag_mapper])


def test_test_loader_one_video_per_batch_in_order(register, tmp_path):
    records = [coloured_objects_video(tmp_path / str(i), video_id=10 + i)[0] for i in range(3)]
    other = register("_vidseg_test_other", [{"video_id": 99}])
    ds = register("_vidseg_test_videos", records)
    cfg = small_cfg(**{"INPUT.MIN_SIZE_TEST": 20, "INPUT.MAX_SIZE_TEST": 1000})
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.DATASETS.TEST = (other,)
    batches = list(build_video_test_loader(cfg, ds))  # honours dataset_name, not DATASETS.TEST
    assert [len(b) for b in batches] == [1, 1, 1]
    assert [b[0]["video_id"] for b in batches] == [10, 11, 12]
    assert all(b[0]["dataset_name"] == ds and len(b[0]["image"]) == 6 for b in batches)
    assert tuple(batches[0][0]["image"][0].shape) == (3, 20, 30)


def test_train_loader_with_worker_processes(register, tmp_path):
    record, _ = coloured_objects_video(tmp_path)
    ds = register("_vidseg_test_workers", [record])
    cfg = small_cfg()
    cfg.DATASETS.TRAIN = (ds,)
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 1
    cfg.SEED = 0
    batch = next(iter(build_video_train_loader(cfg)))
    assert [x["video_id"] for x in batch] == [1, 1] and all(len(x["instances"]) == 2 for x in batch)
