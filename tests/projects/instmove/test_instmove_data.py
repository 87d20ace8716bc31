"""``MaskSequenceMapper`` on a registered VIS dataset's ground truth and on the synthetic generator (InstMove README,
§9.2); the InstMove configs load; ``train_net.py`` trains the tiny model and its checkpoint feeds the prior."""
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import default_argument_parser

import train_net
from projects.instmove.data import MaskSequenceMapper
from projects.instmove.synthetic import eval_set, sample_sequence
from vidseg.config import load_config
from vidseg.data.mappers.common import decode_segmentation
from vidseg.registry import MAPPER_REGISTRY

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[3]


def test_mapper_samples_one_objects_consecutive_masks_from_vis_gt():
    record = DatasetCatalog.get("synth_vis_train")[0]
    mapper = MaskSequenceMapper(size=64, length_range=(4, 4), random_flip=False)
    np.random.seed(0)
    out = mapper(record)
    assert out["past"].shape == (3, 64, 64) and out["target"].shape == (64, 64) and out["n"] == 3
    assert out["target"].sum() > 0 and out["past"].sum() > 0
    # the target is one GT object's mask, padded / resized: find which object and frame reproduce it exactly
    from projects.instmove.geometry import pad_masks

    h, w = record["height"], record["width"]
    found = False
    for t, annos in enumerate(record["annotations"]):
        for a in annos or ():
            m = torch.from_numpy(decode_segmentation(a, h, w, "test") > 0)
            if torch.equal(pad_masks(m[None], 64)[0], out["target"]):
                prev = [next((b for b in record["annotations"][t - k] or () if b["id"] == a["id"]), None)
                        for k in (3, 2, 1)]
                masks = [torch.from_numpy(decode_segmentation(b, h, w, "t") > 0) if b else torch.zeros(h, w, dtype=bool)
                         for b in prev]
                found = found or torch.equal(pad_masks(torch.stack(masks), 64), out["past"])
    assert found


def test_synthetic_generator_properties():
    rng = np.random.default_rng(0)
    seqs = [sample_sequence(rng, 32, 3, band_prob=1.0) for _ in range(20)]
    assert all(s.shape == (4, 32, 32) and s[-1].any() for s in seqs)
    clean = [sample_sequence(np.random.default_rng(i), 32, 3, band_prob=0.0) for i in range(20)]
    occluded = [sample_sequence(np.random.default_rng(i), 32, 3, band_prob=1.0) for i in range(20)]
    # same seed: occlusion only removes pixels of the inputs, and never touches the target
    for c, o in zip(clean, occluded):
        assert torch.equal(torch.from_numpy(c[-1]), torch.from_numpy(o[-1]))
        assert not (o[:-1] & ~c[:-1]).any()
    assert sum(int((c[:-1] & ~o[:-1]).any()) for c, o in zip(clean, occluded)) >= 15
    ev = eval_set()
    assert [b["past"].shape[1] for b in ev] == [2, 3, 4] and all(b["past"].shape[0] == 100 for b in ev)
    assert torch.equal(eval_set()[1]["past"], ev[1]["past"])  # fixed evaluation set


def test_mapper_registered_and_configs_load():
    assert MAPPER_REGISTRY.get("MaskSequenceMapper") is MaskSequenceMapper
    for name in ("base", "ovis", "ytvis", "synthetic"):
        cfg = load_config(str(ROOT / "configs" / "instmove" / f"{name}.yaml"))
        assert cfg.MODEL.META_ARCHITECTURE == "InstMovePredictor"
    cfg = load_config(str(ROOT / "configs" / "instmove" / "synthetic.yaml"))
    mapper = MAPPER_REGISTRY.get("MaskSequenceMapper")(cfg, True)
    np.random.seed(1)
    out = mapper(DatasetCatalog.get("instmove_synthetic_train")[0])
    assert out["past"].shape[1:] == (32, 32) and 2 <= out["n"] <= 4


def test_train_net_trains_and_the_checkpoint_loads_as_prior(tmp_path):
    cfg_file = str(ROOT / "configs" / "tests" / "instmove.yaml")
    train_net.main(default_argument_parser().parse_args(["--config-file", cfg_file, "OUTPUT_DIR", str(tmp_path)]))
    ckpt = tmp_path / "model_final.pth"
    assert ckpt.is_file()
    from vidseg.tracking.motion import TrackHistory, build_motion_prior
    from vidseg.structures.masks import encode_mask

    cfg = load_config(cfg_file)
    cfg.MODEL.MOTION_PRIOR.NAME = "instmove"
    cfg.MODEL.INSTMOVE.WEIGHTS = str(ckpt)
    prior = build_motion_prior(cfg)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["model"]
    assert torch.equal(prior.net.memory.bank, state["net.memory.bank"])
    h = TrackHistory(prior.history)
    for t in range(3):
        m = np.zeros((24, 40), np.uint8)
        m[5:12, 4 + 3 * t : 12 + 3 * t] = 1
        h.append(t, encode_mask(m))
    (pred,) = prior.predict([h], 3)
    assert pred.shape == (24, 40) and pred.dtype == bool
    cfg.MODEL.INSTMOVE.WEIGHTS = ""
    with pytest.raises(ValueError, match="MODEL.INSTMOVE.WEIGHTS"):
        build_motion_prior(cfg)
