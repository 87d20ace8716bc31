"""Item 9 (train_net.py) and item 7: bad input ends with one line ``error: <file or key>: <expected>``, exit code 2,
nothing written; ``--debug`` shows the traceback; an earlier run's checkpoints are never silently replaced."""
import subprocess
import sys

import pytest
from reliability_testutils import NO_EVAL, ROOT, args, exit_line, snapshot

import train_net
from vidseg.config import ConfigError


def test_missing_base_names_the_referring_file(tmp_path, capsys):
    cfg = tmp_path / "child.yaml"
    cfg.write_text("_BASE_: ../nowhere/parent.yaml\nSOLVER:\n  MAX_ITER: 3\n")
    line = exit_line(capsys, args(opts=["OUTPUT_DIR", tmp_path / "out"], config=str(cfg)))
    assert line.startswith(f"error: {cfg}: _BASE_ file '../nowhere/parent.yaml' not found")


def test_bad_yaml_names_file_and_line(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("SOLVER:\n  MAX_ITER: 3\n  STEPS: [1, 2\nMODEL: {}\n")
    line = exit_line(capsys, args(opts=["OUTPUT_DIR", tmp_path / "out"], config=str(cfg)))
    assert line.startswith(f"error: {cfg}: invalid YAML") and "line 4" in line


def test_bad_yaml_in_base_names_the_base(tmp_path, capsys):
    (tmp_path / "parent.yaml").write_text("SOLVER: [unclosed\n")
    child = tmp_path / "child.yaml"
    child.write_text("_BASE_: parent.yaml\n")
    line = exit_line(capsys, args(opts=["OUTPUT_DIR", tmp_path / "out"], config=str(child)))
    assert f"{tmp_path / 'parent.yaml'}: invalid YAML" in line


@pytest.mark.parametrize("content", [b"", b"just some text\n"], ids=["empty", "text"])
def test_weights_not_a_checkpoint_names_the_file(tmp_path, capsys, content):
    weights = tmp_path / "model.pth"
    weights.write_bytes(content)
    line = exit_line(capsys, args("--eval-only", opts=["OUTPUT_DIR", tmp_path / "out", "MODEL.WEIGHTS", weights]))
    assert line.startswith(f"error: {weights}: ") and ("empty" in line or "not a readable checkpoint" in line)


def test_output_dir_is_a_file(tmp_path, capsys):
    f = tmp_path / "out"
    f.write_text("a file")
    line = exit_line(capsys, args(opts=["OUTPUT_DIR", f]))
    assert line == f"error: OUTPUT_DIR={f}: is a file (expected a folder to write checkpoints and results to)"
    assert f.read_text() == "a file"


def test_output_dir_not_writable(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "run"
    line = exit_line(capsys, args(opts=["OUTPUT_DIR", target]))
    assert line.startswith(f"error: OUTPUT_DIR={target}: not writable")


@pytest.mark.parametrize("key", ["DATASETS.TRAIN", "DATASETS.TEST"])
def test_unknown_dataset_name(tmp_path, capsys, key):
    line = exit_line(capsys, args(opts=["OUTPUT_DIR", tmp_path, key, "('no_such_set',)"]))
    assert line.startswith(f"error: {key}: 'no_such_set' is not a registered dataset (known: ")
    assert not any(tmp_path.iterdir())  # nothing written (no config.yaml, no log)


@pytest.mark.parametrize("key", ["SOLVER.MAX_ITER", "SOLVER.IMS_PER_BATCH", "SOLVER.CHECKPOINT_PERIOD"])
def test_non_positive_solver_counts(tmp_path, capsys, key):
    line = exit_line(capsys, args(opts=["OUTPUT_DIR", tmp_path, key, "-5"]))
    assert line == f"error: {key}=-5: expected a positive integer"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ConfigError, match="SOLVER.MAX_ITER=-5"):
        train_net.main(args("--debug", opts=["OUTPUT_DIR", tmp_path, "SOLVER.MAX_ITER", "-5"]))


def test_real_cli_exit_code_and_single_line(tmp_path):
    proc = subprocess.run([sys.executable, "train_net.py", "--config-file", str(tmp_path / "missing.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'missing.yaml'}: config file not found"
    assert "Traceback" not in proc.stderr


# ---- item 7: silent overwrite
@pytest.mark.parametrize("existing", ["model_final.pth", "last_checkpoint"])
def test_training_over_an_earlier_run_is_refused(tmp_path, capsys, existing):
    (tmp_path / existing).write_bytes(b"earlier run")
    (tmp_path / "log.txt").write_text("earlier log")
    before = snapshot(tmp_path)
    line = exit_line(capsys, args(opts=["OUTPUT_DIR", tmp_path]))
    assert line.startswith(f"error: OUTPUT_DIR={tmp_path}: already holds {existing} of an earlier run")
    assert "--resume" in line and "--overwrite" in line
    assert snapshot(tmp_path) == before


def test_overwrite_flag_trains_over_an_earlier_run(tmp_path):
    opts = ["OUTPUT_DIR", tmp_path, "SOLVER.MAX_ITER", 1, *NO_EVAL]
    train_net.main(args(opts=opts))
    first = (tmp_path / "model_final.pth").stat().st_mtime_ns
    train_net.main(args("--overwrite", opts=opts))
    assert (tmp_path / "model_final.pth").stat().st_mtime_ns > first


def test_eval_only_into_a_trained_dir_is_allowed(tmp_path):
    from vidseg.config.validate import check_output_dir

    (tmp_path / "model_final.pth").write_bytes(b"x")
    check_output_dir(str(tmp_path), training=False, resume=False, overwrite=False)
    check_output_dir(str(tmp_path), training=True, resume=True, overwrite=False)


def test_flow_size_mismatch_is_one_line(tmp_path, capsys, monkeypatch):
    """A flow file of another size than its frame: one line naming the flow file, the frame and both sizes."""
    import numpy as np

    from vidseg.data.flow.io import read_record_flow
    from vidseg.data.io.errors import DatasetFormatError
    from vidseg.data.io.flo import write_flo

    flo = tmp_path / "0000.flo"
    write_flo(str(flo), np.zeros((5, 7, 2), np.float32))
    record = {"height": 24, "width": 16, "file_names": ["f0.jpg", "f1.jpg"], "flow_file_names": [str(flo), None]}
    with pytest.raises(DatasetFormatError) as e:
        read_record_flow(record, 0)
    assert str(e.value) == (f"{flo}: flow is 7x5 but frame f0.jpg is 16x24 (expected flow files of the frame size)")
    assert train_net.one_line(e.value) == str(e.value)
