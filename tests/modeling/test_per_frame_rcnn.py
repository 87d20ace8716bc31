"""PerFrameMaskRCNN: builds from the tiny config, trains on clip dicts, infers whole videos into VideoInstances."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances
from detectron2.utils.events import EventStorage

import vidseg.modeling  # noqa: F401  (registration)
from vidseg.config import load_config
from vidseg.modeling import PerFrameMaskRCNN
from vidseg.tracking import MaskIoUTracker
from vidseg.structures.masks import decode_mask

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "tests" / "baseline.yaml")
# thresholds low enough for an untrained detector to yield tracks; few detections keep inference fast
INFER_OPTS = ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", "MODEL.TRACKER.SCORE_INIT", "0.0",
              "MODEL.TRACKER.SCORE_CONTINUE", "0.0", "TEST.DETECTIONS_PER_IMAGE", "10")
LOSS_KEYS = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"}


def make_clip(*, T: int = 2, H: int = 64, W: int = 96, seed: int = 0, present: np.ndarray | None = None) -> dict:
    """A clip dict following the model-input contract: K=3 rectangles of classes 0..2 on a noisy background,
    painted in distinct colours. ``present[k, t]`` False marks object k absent in frame t (gt_ids -1, zeros)."""
    rng = np.random.default_rng(seed)
    K = 3
    present = np.ones((K, T), bool) if present is None else present
    images, instances = [], []
    for t in range(T):
        img = rng.integers(0, 60, size=(3, H, W), dtype=np.uint8)
        masks = np.zeros((K, H, W), bool)
        boxes = np.zeros((K, 4), np.float32)
        for k in range(K):
            if not present[k, t]:
                continue
            x0, y0 = 4 + 30 * k + 2 * t, 8 + 10 * k
            x1, y1 = x0 + 20, y0 + 24
            masks[k, y0:y1, x0:x1] = True
            boxes[k] = (x0, y0, x1, y1)
            img[:, masks[k]] = np.array([[200], [80 + 60 * k], [255 - 70 * k]], np.uint8)
        inst = Instances((H, W))
        inst.gt_ids = torch.tensor([k + 1 if present[k, t] else -1 for k in range(K)], dtype=torch.long)
        inst.gt_classes = torch.arange(K, dtype=torch.long)
        inst.gt_masks = BitMasks(torch.from_numpy(masks))
        inst.gt_boxes = Boxes(torch.from_numpy(boxes))
        images.append(torch.from_numpy(img))
        instances.append(inst)
    return {"image": images, "instances": instances, "video_id": seed, "height": H, "width": W,
            "frame_idx": list(range(T))}


@pytest.fixture(autouse=True)
def event_storage():
    """detectron2's training forward logs to the current EventStorage (the trainer provides one)."""
    with EventStorage(0) as storage:
        yield storage


@pytest.fixture(scope="module")
def cfg():
    return load_config(CONFIG)


def _model(cfg, *opts) -> PerFrameMaskRCNN:
    cfg = cfg.clone()
    cfg.defrost()
    cfg.merge_from_list(list(opts))
    torch.manual_seed(0)
    return build_model(cfg)


def test_builds_from_tiny_config(cfg):
    model = _model(cfg)
    assert isinstance(model, PerFrameMaskRCNN)
    assert isinstance(model.tracker, MaskIoUTracker)
    assert model.tracker.score_init == cfg.MODEL.TRACKER.SCORE_INIT
    # ROI heads read MODEL.NUM_CLASSES (3 classes + background), not the detectron2 default of 80
    assert model.roi_heads.box_predictor.cls_score.out_features == cfg.MODEL.NUM_CLASSES + 1
    assert model.roi_heads.mask_head.predictor.out_channels == cfg.MODEL.NUM_CLASSES
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 80  # the caller's cfg is left untouched


def test_clip_to_frames_drops_absent_objects():
    present = np.array([[True, False], [True, True], [False, True]])
    clip = make_clip(present=present)
    clip["instances"][1].gt_boxes.tensor[1] = torch.tensor([10.0, 10.0, 10.0, 30.0])  # degenerate box
    frames = PerFrameMaskRCNN.clip_to_frames(clip)
    assert len(frames) == 2
    assert frames[0]["instances"].gt_classes.tolist() == [0, 1]
    assert frames[1]["instances"].gt_classes.tolist() == [2]
    for f in frames:
        assert not f["instances"].has("gt_ids")
        assert set(f["instances"].get_fields()) == {"gt_classes", "gt_masks", "gt_boxes"}
    bad = make_clip()
    bad["instances"] = bad["instances"][:1]
    with pytest.raises(ValueError, match="2 images but 1 instances"):
        PerFrameMaskRCNN.clip_to_frames(bad)


def test_one_train_step(cfg):
    model = _model(cfg)
    model.train()
    losses = model([make_clip(seed=1), make_clip(seed=2)])
    assert set(losses) == LOSS_KEYS
    for name, value in losses.items():
        assert torch.isfinite(value), name
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads[-10:])
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)
    # the backbone receives gradient too (FREEZE_AT 0)
    stem = model.backbone.bottom_up.stem.conv1.weight
    assert stem.grad is not None and float(stem.grad.abs().sum()) > 0


def test_all_empty_gt_clip_trains(cfg):
    model = _model(cfg)
    model.train()
    clip = make_clip(present=np.zeros((3, 2), bool))
    losses = model([clip])
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()


def test_loss_decreases_on_a_fixed_clip(cfg):
    model = _model(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    clip = make_clip(seed=3)
    history = []
    for _ in range(20):
        torch.manual_seed(len(history))
        losses = model([clip])
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(float(total.detach()))
    assert np.mean(history[-3:]) < 0.7 * history[0], history


def test_inference_returns_video_instances_at_original_size(cfg):
    model = _model(cfg, *INFER_OPTS).eval()
    video = make_clip(T=5, seed=4)
    video.pop("instances")
    video.update(height=80, width=120, frame_idx=[3, 4, 5, 6, 7])
    (out,) = model([video])
    vi = out["video_instances"]
    assert vi.image_size == (80, 120) and vi.frame_idx == [3, 4, 5, 6, 7]
    assert len(vi) > 0
    for k in range(len(vi)):
        assert 0.0 <= vi.scores[k] <= 1.0 and 0 <= vi.labels[k] < cfg.MODEL.NUM_CLASSES
        assert len(vi.masks[k]) == 5
        assert any(m is not None for m in vi.masks[k])
        for rle in vi.masks[k]:
            if rle is not None:
                assert isinstance(rle["counts"], str) and decode_mask(rle).shape == (80, 120)


def test_clip_chunk_gives_the_same_tracks(cfg):
    video = make_clip(T=4, seed=5)
    video.pop("instances")
    whole = _model(cfg, *INFER_OPTS, "TEST.CLIP_CHUNK", "0").eval()
    chunked = _model(cfg, *INFER_OPTS, "TEST.CLIP_CHUNK", "3").eval()
    assert chunked.clip_chunk == 3
    a, b = whole([video])[0]["video_instances"], chunked([video])[0]["video_instances"]
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4)


@pytest.mark.parametrize("name", ["baseline/r50_fpn.yaml", "baseline/quickstart.yaml"])
def test_baseline_configs_build(name):
    cfg = load_config(str(Path(CONFIG).parents[1] / name))
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    assert isinstance(model, PerFrameMaskRCNN)
    assert model.roi_heads.box_predictor.cls_score.out_features == cfg.MODEL.NUM_CLASSES + 1
    assert model.tracker.score_init == cfg.MODEL.TRACKER.SCORE_INIT
    assert len(model.backbone.bottom_up.res2) == (3 if cfg.MODEL.RESNETS.DEPTH == 50 else 2)


def test_mask_on_is_required(cfg):
    with pytest.raises(ValueError, match="MODEL.MASK_ON"):
        _model(cfg, "MODEL.MASK_ON", "False")


@pytest.mark.gpu
def test_inference_on_cuda(cfg):
    model = _model(cfg, *INFER_OPTS, "MODEL.DEVICE", "cuda").eval()
    video = make_clip(T=3, seed=6)
    video.pop("instances")
    vi = model([video])[0]["video_instances"]
    assert vi.image_size == (64, 96) and vi.num_frames == 3 and len(vi) > 0


def test_mapped_synthetic_clip_trains_and_infers(cfg):
    """The model accepts the real mappers' output on the tiny synthetic VIS set (contract check)."""
    import vidseg.data  # noqa: F401  (dataset registration)
    import vidseg.data.mappers  # noqa: F401
    from detectron2.data import DatasetCatalog

    from vidseg.registry import MAPPER_REGISTRY

    record = DatasetCatalog.get(cfg.DATASETS.TRAIN[0])[0]
    model = _model(cfg, *INFER_OPTS)
    clip = MAPPER_REGISTRY.get(cfg.INPUT.MAPPER.TRAIN)(cfg, is_train=True)(record)
    assert len(clip["image"]) == cfg.INPUT.CLIP.NUM_FRAMES
    losses = model.train()([clip])
    assert set(losses) == LOSS_KEYS and all(torch.isfinite(v) for v in losses.values())
    video = MAPPER_REGISTRY.get(cfg.INPUT.MAPPER.TEST)(cfg, is_train=False)(record)
    vi = model.eval()([video])[0]["video_instances"]
    assert vi.image_size == (record["height"], record["width"])
    assert vi.num_frames == record["length"] and vi.frame_idx == list(range(record["length"]))
