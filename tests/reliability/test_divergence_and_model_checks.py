"""Items 5 and 6: a checkpoint that does not fit the model and a class count below the dataset's fail at once;
a NaN/Inf loss ends every method with a one-line ``FloatingPointError`` and no diverged weights are saved."""
import math

import pytest
import torch
from detectron2.engine import HookBase
from reliability_testutils import NO_EVAL, ROOT, TinyNet, args, exit_line, snapshot

import train_net
from vidseg.checkpoint import CheckpointError, VidsegCheckpointer
from vidseg.engine import VideoTrainer


def _baseline_state(num_classes: int) -> dict:
    cfg = train_net.setup(args("--eval-only", opts=["MODEL.NUM_CLASSES", num_classes, "OUTPUT_DIR", "/tmp"]))
    torch.manual_seed(0)
    return VideoTrainer.build_model(cfg).state_dict()


# ---- item 5
def test_eval_only_with_other_class_count_checkpoint_fails(tmp_path, capsys):
    path = tmp_path / "five_classes.pth"
    torch.save({"model": _baseline_state(5)}, path)
    line = exit_line(capsys, args("--eval-only", opts=["OUTPUT_DIR", tmp_path / "out", "MODEL.WEIGHTS", path]))
    assert line.startswith(f"error: {path}: leaves ") and "of another shape" in line
    assert "MODEL.WEIGHTS_MAX_UNLOADED" in line and not (tmp_path / "out" / "inference").exists()


def test_eval_only_with_other_architecture_checkpoint_fails(tmp_path, capsys):
    path = tmp_path / "tiny.pth"
    torch.save({"model": TinyNet().state_dict()}, path)
    line = exit_line(capsys, args("--eval-only", opts=["OUTPUT_DIR", tmp_path / "out", "MODEL.WEIGHTS", path]))
    assert line.startswith(f"error: {path}: leaves 100.0% of the model's weights unloaded")


def test_max_unloaded_switch_allows_fine_tuning(tmp_path):
    cfg = train_net.setup(args("--eval-only", opts=["OUTPUT_DIR", tmp_path]))
    model = VideoTrainer.build_model(cfg)
    path = tmp_path / "five.pth"
    torch.save({"model": _baseline_state(5)}, path)
    ck = VidsegCheckpointer(model, save_dir=str(tmp_path))
    ck.max_unloaded = 0.0
    with pytest.raises(CheckpointError):
        ck.load(str(path))
    ck.max_unloaded = 1.0
    ck.load(str(path))  # class heads of another shape stay random, everything else is loaded
    assert torch.equal(model.state_dict()["backbone.bottom_up.stem.conv1.weight"],
                       _baseline_state(5)["backbone.bottom_up.stem.conv1.weight"])


def test_full_checkpoint_loads_under_the_strict_default(tmp_path):
    state = _baseline_state(3)
    torch.save({"model": state}, tmp_path / "m.pth")
    cfg = train_net.setup(args("--eval-only", opts=["OUTPUT_DIR", tmp_path]))
    ck = VidsegCheckpointer(VideoTrainer.build_model(cfg), save_dir=str(tmp_path))
    ck.max_unloaded = 0.0
    ck.load(str(tmp_path / "m.pth"))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_num_classes_below_dataset_classes(tmp_path, capsys, mode):
    extra = ("--eval-only",) if mode == "eval" else ()
    train = ["DATASETS.TRAIN", "()"] if mode == "eval" else []
    line = exit_line(capsys, args(*extra, opts=["OUTPUT_DIR", tmp_path, "MODEL.NUM_CLASSES", 2, *train]))
    dataset, key = ("synth_vis_train", "TRAIN") if mode == "train" else ("synth_vis_val", "TEST")
    assert line == (f"error: MODEL.NUM_CLASSES=2: dataset {dataset!r} (DATASETS.{key}) has 3 thing_classes "
                    "(expected MODEL.NUM_CLASSES >= 3)")


# ---- item 6
class PoisonWeights(HookBase):
    """Divergence: after iteration 0 (and its checkpoint) the weights below ``prefix`` become NaN."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def after_step(self):
        if self.trainer.iter == 0:
            with torch.no_grad():
                for name, p in self.trainer.model.named_parameters():
                    if name.startswith(self.prefix):
                        p.fill_(float("nan"))


@pytest.mark.parametrize("config,prefix,expected", [
    ("baseline", "roi_heads.mask_head", "loss is NaN/Inf (loss_mask=nan)"),
    ("moseg_joint", "roi_heads.mask_head", "loss is NaN/Inf (loss_mask=nan)"),
    ("ifr", "", "matching cost of clip 0 is NaN/Inf (non-finite pred_logits, pred_masks)"),
])
def test_nan_ends_training_naming_iteration_and_saves_nothing_diverged(tmp_path, config, prefix, expected):
    cfg = train_net.setup(args(config=str(ROOT / "configs" / "tests" / f"{config}.yaml"), opts=[
        "OUTPUT_DIR", tmp_path, "SOLVER.MAX_ITER", 2, "SOLVER.CHECKPOINT_PERIOD", 1, *NO_EVAL]))
    trainer = VideoTrainer(cfg)
    assert any(n.startswith(prefix) for n, _ in trainer.model.named_parameters())
    trainer.register_hooks([PoisonWeights(prefix)])
    with pytest.raises(FloatingPointError) as e:
        trainer.train()
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("iteration 1: ")
    assert expected in msg
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000000.pth"
    assert not (tmp_path / "model_final.pth").exists() and not (tmp_path / "model_0000001.pth").exists()
    saved = torch.load(tmp_path / "model_0000000.pth", weights_only=False)["model"]
    assert all(torch.isfinite(v).all() for v in saved.values() if v.is_floating_point())


def test_loss_check_names_every_non_finite_term():
    from vidseg.engine.safety import _non_finite_terms

    terms = _non_finite_terms({"loss_cls": torch.tensor(0.5), "loss_mask": torch.tensor(float("nan")),
                               "loss_box": torch.tensor(float("inf"))})
    assert terms == ["loss_mask=nan", "loss_box=inf"]


def test_checkpointer_refuses_non_finite_weights(tmp_path):
    model = TinyNet()
    ck = VidsegCheckpointer(model, save_dir=str(tmp_path))
    ck.save("model_0000000")
    before = snapshot(tmp_path)
    with torch.no_grad():
        model.head.bias[1] = math.inf
    ck.save("model_final")
    assert snapshot(tmp_path) == before


def test_matcher_names_non_finite_predictions():
    from vidseg.modeling.matching.video_matcher import VideoHungarianMatcher

    matcher = VideoHungarianMatcher(num_points=16)
    logits = torch.zeros(1, 4, 4)
    logits[0, 2, 1] = float("nan")
    outputs = {"pred_logits": logits, "pred_masks": torch.zeros(1, 4, 2, 8, 8)}
    targets = [{"labels": torch.tensor([0, 1]), "masks": torch.ones(2, 2, 8, 8)}]
    with pytest.raises(FloatingPointError, match="clip 0 is NaN/Inf \\(non-finite pred_logits\\)"):
        matcher(outputs, targets)
