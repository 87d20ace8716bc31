"""train_net.py end to end, in-process, on the tiny synthetic VIS data: train, --resume, --eval-only, 2 ranks."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from detectron2.engine import default_argument_parser

import train_net

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "configs" / "tests" / "baseline.yaml")


def _args(*extra, opts=()):
    return default_argument_parser().parse_args(["--config-file", TINY, *extra, *opts])


def _iters(out_dir: Path) -> list[int]:
    lines = (out_dir / "metrics.json").read_text().splitlines()
    return [json.loads(line)["iteration"] for line in lines if '"total_loss"' in line]


def test_train_resume_and_eval_only(tmp_path):
    out = tmp_path / "run"
    common = ["OUTPUT_DIR", str(out), "SOLVER.CHECKPOINT_PERIOD", "2", "TEST.VIS_VIDEOS", "1"]
    trained = train_net.main(_args(opts=[*common, "SOLVER.MAX_ITER", "2"]))
    assert 0.0 <= trained["ytvis"]["AP"] <= 1.0  # training ends with an evaluation whose results are returned
    assert (out / "model_final.pth").is_file()
    assert (out / "last_checkpoint").read_text().strip() == "model_final.pth"
    assert any(p.name.startswith("events.out.tfevents") for p in out.iterdir())  # TensorBoard scalars
    first = _iters(out)
    assert first and max(first) == 1

    # --resume continues from iteration 2 instead of starting again
    train_net.main(_args("--resume", opts=[*common, "SOLVER.MAX_ITER", "4"]))
    resumed = _iters(out)[len(first):]
    assert resumed and min(resumed) >= 2 and max(resumed) == 3
    ckpt = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert ckpt["iteration"] == 3

    # --eval-only with the trained weights writes results.json and returns the AP table
    results = train_net.main(_args("--eval-only", opts=[*common, "MODEL.WEIGHTS", str(out / "model_final.pth")]))
    assert {"AP", "AP50", "AP75", "AR1", "AR10"} <= set(results["ytvis"])
    inference = out / "inference"
    assert list(inference.rglob("results.json")), "the YouTube-VIS evaluator writes results.json"
    gifs = list(inference.rglob("*.gif"))
    assert len(gifs) == 1


def _exit_message(args, capsys) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        train_net.main(args)
    assert e.value.code == 2
    msg = capsys.readouterr().err.strip().splitlines()[-1]
    assert msg.startswith("error: ")
    return msg


def test_unknown_key_exits_with_one_line(tmp_path, capsys):
    msg = _exit_message(_args(opts=["MODEL.NOT_A_KEY", "1", "OUTPUT_DIR", str(tmp_path)]), capsys)
    assert "MODEL.NOT_A_KEY" in msg


def test_missing_dataset_root_exits_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "nowhere"))
    opts = ["OUTPUT_DIR", str(tmp_path / "out"), "DATASETS.TRAIN", "('ytvis_2019_train',)", "MODEL.NUM_CLASSES", "40"]
    msg = _exit_message(_args(opts=opts), capsys)
    assert str(tmp_path / "nowhere") in msg and "datasets/README.md" in msg


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_frame_exits_naming_the_file(tmp_path, monkeypatch, workers, capsys):
    from vidseg.data.datasets.synthetic.generate import load_synthetic

    monkeypatch.setenv("VIDSEG_SYNTH_ROOT", str(tmp_path / "synth"))
    first = load_synthetic("vis", "val")[0]["file_names"][0]
    Path(first).write_bytes(Path(first).read_bytes()[:100])  # truncated JPEG
    opts = ["OUTPUT_DIR", str(tmp_path / "out"), "DATALOADER.NUM_WORKERS", str(workers)]
    msg = _exit_message(_args("--eval-only", opts=opts), capsys)
    assert first in msg and "corrupt" in msg


def test_default_output_dir_mirrors_config_path():
    assert train_net.default_output_dir(str(ROOT / "configs/ifr/ablations/no_rec.yaml")) == "output/ifr/ablations/no_rec"
    assert train_net.default_output_dir("/elsewhere/my.yaml") == "output/my"


WORKER = textwrap.dedent(
    """
    import sys, torch
    from detectron2.engine import default_argument_parser, launch
    from detectron2.utils import comm
    sys.path.insert(0, {root!r})
    import train_net
    from vidseg.engine import VideoTrainer

    def worker(args):
        cfg = train_net.setup(args)
        trainer = VideoTrainer(cfg)
        trainer.train()
        model = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
        torch.save({{k: v.detach().clone() for k, v in model.state_dict().items()}},
                   f"{{cfg.OUTPUT_DIR}}/rank{{comm.get_rank()}}.pth")

    if __name__ == "__main__":
        args = default_argument_parser().parse_args(sys.argv[1:])
        launch(worker, 2, dist_url="auto", args=(args,))
    """
)


def test_two_process_gloo_training_stays_in_sync(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(ROOT)))
    cmd = [sys.executable, str(script), "--config-file", TINY,
           "OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", "3", "SOLVER.IMS_PER_BATCH", "2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pth")
    r1 = torch.load(tmp_path / "rank1.pth")
    # each rank seeds its own random init (default_setup: seed + rank); DDP broadcasts rank 0's weights and
    # all-reduces gradients, so after 3 steps the two replicas must agree exactly on every parameter
    assert r0.keys() == r1.keys()
    assert max(_iters(tmp_path)) == 2
    for k in r0:
        torch.testing.assert_close(r0[k], r1[k], rtol=0, atol=0, msg=k)
