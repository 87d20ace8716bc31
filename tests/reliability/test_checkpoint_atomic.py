"""Item 1: checkpoint writes are atomic; resume falls back to the newest loadable checkpoint."""
import logging
import os

import pytest
import torch
from reliability_testutils import TinyNet, snapshot

import vidseg.checkpoint.atomic as atomic
from vidseg.checkpoint import CheckpointError, VidsegCheckpointer


def _ckpt(tmp_path, model=None, **extra):
    return VidsegCheckpointer(model or TinyNet(), save_dir=str(tmp_path), **extra)


class Counter:
    def __init__(self, n=0):
        self.n = n

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, s):
        self.n = s["n"]


def _half_write_then_die(obj, f):
    """A torch.save killed half-way: some bytes reach the file, then the process 'dies'."""
    f.write(b"PK\x03\x04 half a checkpoint")
    raise KeyboardInterrupt("killed during write")


def test_save_killed_half_way_leaves_previous_file_and_tag(tmp_path, monkeypatch):
    ck = _ckpt(tmp_path)
    ck.save("model_final")
    before = snapshot(tmp_path)
    monkeypatch.setattr(atomic.torch, "save", _half_write_then_die)
    with pytest.raises(KeyboardInterrupt):
        ck.save("model_final")
    assert snapshot(tmp_path) == before  # same bytes, same mtimes, no temporary file left behind
    monkeypatch.undo()
    assert torch.load(tmp_path / "model_final.pth", weights_only=False)["model"].keys() == TinyNet().state_dict().keys()


def test_new_checkpoint_is_tagged_only_after_it_is_complete(tmp_path, monkeypatch):
    ck = _ckpt(tmp_path)
    ck.save("model_0000009")
    monkeypatch.setattr(atomic.torch, "save", _half_write_then_die)
    with pytest.raises(KeyboardInterrupt):
        ck.save("model_0000019")
    assert not (tmp_path / "model_0000019.pth").exists()
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"


def test_kill_between_write_and_rename_keeps_old_file_and_tag(tmp_path, monkeypatch):
    ck = _ckpt(tmp_path)
    ck.save("model_final")
    before = snapshot(tmp_path)

    def die(src, dst):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(atomic.os, "replace", die)
    with pytest.raises(KeyboardInterrupt):
        ck.save("model_final")  # the complete new file was written to a temporary name, never renamed
    with pytest.raises(KeyboardInterrupt):
        ck.tag_last_checkpoint("model_0000001.pth")
    assert snapshot(tmp_path) == before


def _two_checkpoints(tmp_path):
    a, b = TinyNet(), TinyNet()
    counter = Counter(4)
    ck = _ckpt(tmp_path, a, counter=counter)
    ck.save("model_0000004")
    counter.n = 9
    VidsegCheckpointer(b, save_dir=str(tmp_path), counter=counter).save("model_final")
    return a, b


def test_zero_byte_tagged_checkpoint_falls_back_with_warning(tmp_path, caplog):
    a, _ = _two_checkpoints(tmp_path)
    (tmp_path / "model_final.pth").write_bytes(b"")  # what a kill during a non-atomic write left behind
    model, counter = TinyNet(), Counter()
    ck = _ckpt(tmp_path, model, counter=counter)
    with caplog.at_level(logging.WARNING):
        ck.resume_or_load("", resume=True)
    assert ck.resumed_from == str(tmp_path / "model_0000004.pth") and counter.n == 4
    for k, v in a.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    text = caplog.text
    assert "model_final.pth: file is empty" in text and "instead of model_final.pth" in text


def test_truncated_tagged_checkpoint_falls_back(tmp_path):
    _two_checkpoints(tmp_path)
    data = (tmp_path / "model_final.pth").read_bytes()
    (tmp_path / "model_final.pth").write_bytes(data[: len(data) // 2])
    counter = Counter()
    ck = _ckpt(tmp_path, counter=counter)
    ck.resume_or_load("", resume=True)
    assert counter.n == 4 and ck.resumed_from.endswith("model_0000004.pth")


def test_empty_last_checkpoint_resumes_from_newest(tmp_path, caplog):
    _two_checkpoints(tmp_path)
    (tmp_path / "last_checkpoint").write_text("")
    counter = Counter()
    ck = _ckpt(tmp_path, counter=counter)
    with caplog.at_level(logging.WARNING):
        ck.resume_or_load("", resume=True)
    assert counter.n == 9 and ck.resumed_from.endswith("model_final.pth")
    assert "last_checkpoint is empty" in caplog.text


def test_no_loadable_checkpoint_starts_fresh_with_warning(tmp_path, caplog):
    (tmp_path / "model_final.pth").write_bytes(b"")
    (tmp_path / "last_checkpoint").write_text("model_final.pth")
    ck = _ckpt(tmp_path)
    with caplog.at_level(logging.WARNING):
        ck.resume_or_load("", resume=True)
    assert ck.resumed_from == "" and "no loadable checkpoint" in caplog.text


def test_explicit_unreadable_weights_name_the_file(tmp_path):
    bad = tmp_path / "weights.pth"
    bad.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match=f"^{bad}: not a readable checkpoint"):
        _ckpt(tmp_path / "out").load(str(bad))
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=f"^{empty}: checkpoint file is empty"):
        _ckpt(tmp_path / "out").load(str(empty))


def test_trainer_resume_falls_back_to_older_checkpoint(tmp_path):
    """End to end through VideoTrainer: a 0-byte model_final.pth named by last_checkpoint resumes from the
    periodic checkpoint at its iteration (detectron2 died here with a bare EOFError)."""
    import train_net
    from reliability_testutils import NO_EVAL, args

    out = tmp_path / "run"
    opts = ["OUTPUT_DIR", out, "SOLVER.MAX_ITER", 3, "SOLVER.CHECKPOINT_PERIOD", 2, "SEED", 1, *NO_EVAL]
    train_net.main(args(opts=opts))
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    (out / "model_final.pth").write_bytes(b"")
    cfg = train_net.setup(args("--resume", opts=[*opts[:2], "SOLVER.MAX_ITER", 4, *opts[4:]]))
    from vidseg.engine import VideoTrainer

    trainer = VideoTrainer(cfg)
    trainer.resume_or_load(resume=True)
    assert trainer.checkpointer.resumed_from == os.path.join(str(out), "model_0000001.pth")
    assert trainer.start_iter == 2
