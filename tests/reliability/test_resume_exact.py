"""Item 2: kill at N + ``--resume`` equals the uninterrupted run bit for bit on CPU (model, optimizer, scheduler,
python/numpy/torch random states, sampler seed and position all travel in the checkpoint)."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from reliability_testutils import NO_EVAL, ROOT, TINY, args, weights

import train_net


def _assert_bit_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k}: max |diff| {(a[k].float() - b[k].float()).abs().max()}"


def test_resume_from_middle_checkpoint_is_bit_identical(tmp_path):
    """SEED -1 (random seed per run) on purpose: the resumed run must take the sampler seed and the random
    states from the checkpoint, not from its own seeding."""
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    common = ["SOLVER.MAX_ITER", 4, "SOLVER.CHECKPOINT_PERIOD", 2, "SEED", -1, *NO_EVAL]
    train_net.main(args(opts=["OUTPUT_DIR", full, *common]))
    resumed.mkdir()
    shutil.copy(full / "model_0000001.pth", resumed / "model_0000001.pth")  # the state when "killed" after iter 1
    (resumed / "last_checkpoint").write_text("model_0000001.pth")
    train_net.main(args("--resume", opts=["OUTPUT_DIR", resumed, *common]))
    a = torch.load(full / "model_final.pth", weights_only=False)
    b = torch.load(resumed / "model_final.pth", weights_only=False)
    assert a["iteration"] == b["iteration"] == 3
    _assert_bit_equal(a["model"], b["model"])
    opt_a, opt_b = a["trainer"]["_trainer"]["optimizer"]["state"], b["trainer"]["_trainer"]["optimizer"]["state"]
    assert opt_a.keys() == opt_b.keys()
    for k in opt_a:
        _assert_bit_equal(opt_a[k], opt_b[k])


def test_checkpoint_holds_rng_states_and_sampler_seed(tmp_path):
    train_net.main(args(opts=["OUTPUT_DIR", tmp_path, "SOLVER.MAX_ITER", 1, "SEED", 11, *NO_EVAL]))
    rng = torch.load(tmp_path / "model_final.pth", weights_only=False)["rng"]
    assert rng["world_size"] == 1 and rng["sampler_seed"] == 11
    assert set(rng["states"][0]) >= {"python", "numpy", "torch"}


def test_sampler_skip_continues_the_same_stream():
    from vidseg.data.build import MixedDatasetSampler

    for ratios in ([], [1.0, 3.0]):
        full = MixedDatasetSampler([5, 7], ratios, seed=3, rank=1, world_size=2)
        head = list(zip(range(40), iter(full)))
        later = MixedDatasetSampler([5, 7], ratios, seed=3, rank=1, world_size=2)
        later.skip(13)
        assert [i for _, i in zip(range(27), iter(later))] == [i for _, i in head[13:]]


def _train_cmd(out, *extra):
    return [sys.executable, "train_net.py", "--config-file", TINY, *extra, "OUTPUT_DIR", str(out),
            "SOLVER.MAX_ITER", "8", "SOLVER.CHECKPOINT_PERIOD", "2", "SEED", "5", *NO_EVAL]


@pytest.mark.slow
def test_kill_9_then_resume_is_bit_identical(tmp_path):
    """A real ``kill -9`` of train_net.py right after its first checkpoint appears, then ``--resume``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_train_cmd(full), cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
    proc = subprocess.Popen(_train_cmd(killed), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (killed / "model_0000001.pth").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "model_final.pth").exists()
    done = subprocess.run(_train_cmd(killed, "--resume"), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_bit_equal(weights(full / "model_final.pth"), weights(killed / "model_final.pth"))
