#!/usr/bin/env python
"""``make quickstart [METHOD=ifr|baseline|instflow|isvos|instmove|moseg]``: train one of vidseg's methods on the
built-in synthetic videos on CPU, evaluate it and the untrained model, and print both metric rows and an overlay mp4
path. InstMove is a motion prior: its evaluation (``tools/quickstart_instmove.py``) plugs it into the per-frame
baseline's tracker and also prints the tracker without a prior and with the copy-last / linear priors.

The terminal gets a short header, one progress bar for training and one for evaluation (untrained + trained),
the metrics table and the overlay path; every step's full ``train_net.py`` log goes to
``output/quickstart/<method>/log.txt``. Runs are seeded (the config's ``SEED``) and resumable: training
continues from its last checkpoint and finished evaluations are not repeated (``--fresh`` starts over).
``--iters N`` shortens the schedule (smoke runs). Metrics come from the evaluators' json files; the wall and
CPU time of the run (all processes) go to ``quickstart.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit deprecation notices at import time

ROOT = Path(__file__).resolve().parents[1]
VIS_METRICS = ("AP", "AP50", "AP75", "AR1", "AR10", "IDF1")
# method -> (config, what, evaluation dataset, details json, metrics shown)
METHODS = {
    "ifr": ("configs/ifr/quickstart.yaml", "IFR, inter-frame recurrent attention (paper 003)",
            "synth_vis_val_large", "ytvis_details.json", VIS_METRICS),
    "baseline": ("configs/baseline/quickstart.yaml", "per-frame Mask R-CNN + mask-IoU tracker (paper 002 baseline)",
                 "synth_vis_val_large", "ytvis_details.json", VIS_METRICS),
    "instflow": ("configs/instflow/quickstart.yaml", "Instance Flow Assembly, bottom-up VIS (paper 002)",
                 "synth_vis_val_large", "ytvis_details.json", VIS_METRICS),
    "isvos": ("configs/isvos/quickstart.yaml", "ISVOS, instance-aware semi-supervised VOS (paper 004)",
              "synth_vos_val_large", "vos_details.json", ("J&F-Mean", "J-Mean", "F-Mean", "J-Recall", "F-Recall")),
    "instmove": ("configs/instmove/quickstart.yaml", "InstMove motion prior (paper 000) in the per-frame baseline's "
                 "mask-IoU tracker", "synth_vis_val_large", "instmove_details.json", ("mIoU", "IDs", "IDF1", "MOTA")),
    "moseg": ("configs/moseg/quickstart.yaml", "two-stream moving-object Mask R-CNN (paper 001)",
              "synth_moseg_val_large", "fbms_details.json", ("P", "R", "F", "objects_F>=0.75")),
}
INFERENCE_DONE = re.compile(r"Inference done (\d+)/(\d+)")
HOST_EVAL = "tools/quickstart_instmove.py"  # evaluation step of METHOD=instmove (a motion prior inside a tracker)
REFERENCES = {"none": "tracker without prior", "copy_last": "copy-last prior", "linear": "linear prior"}


def config_value(config: str, key: str, opts: list[str] = ()):
    """A config value after _BASE_ merging and ``opts`` (a short subprocess-free load)."""
    import logging

    from vidseg.config import load_config

    logging.getLogger("detectron2").setLevel(logging.ERROR)  # e.g. "no VERSION": the terminal stays short

    node = load_config(str(ROOT / config), list(opts))
    for part in key.split("."):
        node = node[part]
    return node


class Step:
    """One run of a script (``train_net.py`` or the instmove evaluation) whose output goes to the log file; ``poll``
    is called about once a second."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def run(self, args: list[str], poll, script: str = "train_net.py") -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        start = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "a") as f:
            f.write(f"\n$ python {script} {' '.join(args)}\n")
            f.flush()
            proc = subprocess.Popen([sys.executable, script, *args], cwd=ROOT, stdout=f,
                                    stderr=subprocess.STDOUT, env=env)
            try:
                while proc.poll() is None:
                    time.sleep(1.0)
                    poll(self._new_text(start))
            finally:  # interrupted: do not leave the training process behind (a rerun resumes it)
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait()
            poll(self._new_text(start))
        if proc.returncode:
            tail = self._new_text(start).strip().splitlines()[-1:] or ["(no output)"]
            sys.exit(f"error: {script} failed ({tail[0]}); full log: {self.log.relative_to(ROOT)}")

    def _new_text(self, start: int) -> str:
        with open(self.log, errors="replace") as f:
            f.seek(start)
            return f.read()


def num_videos(dataset: str) -> int:
    from detectron2.data import DatasetCatalog

    import vidseg  # noqa: F401  (registers the datasets)

    return len(DatasetCatalog.get(dataset))


def iterations_done(out_dir: Path) -> int:
    path = out_dir / "metrics.json"
    if not path.is_file():
        return 0
    its = [json.loads(line).get("iteration", -1) for line in path.read_text().splitlines() if line.strip()]
    return max(its, default=-1) + 1


def fmt(value) -> str:
    """Fractions x100 with one decimal; counts (ints) as they are."""
    if value is None:
        return "  n/a"
    return f"{value:5d}" if isinstance(value, int) else f"{100 * value:5.1f}"


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv=None) -> int:
    from tqdm import tqdm

    t0, c0 = time.time(), cpu_seconds()  # the whole run, config loading included
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", default="ifr", choices=sorted(METHODS))
    parser.add_argument("--iters", type=int, default=None, help="override SOLVER.MAX_ITER (smoke runs)")
    parser.add_argument("--seed", type=int, default=None, help="override the config's SEED")
    parser.add_argument("--fresh", action="store_true", help="delete the previous run of this method first")
    parser.add_argument("--out", default=None, help="output folder (default output/quickstart/<method>[_seed<n>])")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides for every step")
    args = parser.parse_args(argv)
    config, what, dataset, details, metrics = METHODS[args.method]
    if args.opts:
        dataset = config_value(config, "DATASETS.TEST", args.opts)[0]
    name = args.method if args.seed is None else f"{args.method}_seed{args.seed}"
    out = Path(args.out).resolve() if args.out else ROOT / "output" / "quickstart" / name
    if args.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    max_iter = args.iters or int(config_value(config, "SOLVER.MAX_ITER", args.opts))
    seed = args.seed if args.seed is not None else int(config_value(config, "SEED", args.opts))
    common = [*args.opts, "MODEL.DEVICE", "cpu", "SEED", str(seed)]
    log = out / "log.txt"
    step = Step(log)
    print(f"vidseg quick start: {what}")
    print(f"config {config}, seed {seed}, {max_iter} iterations on CPU; full log: {shown(log)}")

    t_start, c_start = time.time(), cpu_seconds()
    bar = tqdm(total=max_iter, desc="train", unit="it", initial=iterations_done(out / "trained"), dynamic_ncols=True,
               smoothing=0)

    def train_poll(_: str) -> None:
        bar.update(max(iterations_done(out / "trained") - bar.n, 0))

    step.run(["--config-file", config, "--resume", *common, "SOLVER.MAX_ITER", str(max_iter),
              "SOLVER.CHECKPOINT_PERIOD", str(max(max_iter // 5, 1)), "DATASETS.TEST", "()",
              "OUTPUT_DIR", str(out / "trained")], train_poll)
    bar.update(max_iter - bar.n)
    bar.close()
    t_train, c_train = time.time() - t_start, cpu_seconds() - c_start

    results, references = {}, {}
    jobs = [("untrained (random init)", out / "untrained", ""), ("trained", out / "trained",
                                                                 str(out / "trained" / "model_final.pth"))]
    ebar = tqdm(total=2 * num_videos(dataset), desc="evaluate", unit="video", dynamic_ncols=True, smoothing=0)
    for k, (row, run_dir, weights) in enumerate(jobs):
        detail = run_dir / "inference" / dataset / details
        if not detail.is_file() or (weights and detail.stat().st_mtime < Path(weights).stat().st_mtime):

            def eval_poll(text: str, base: int = k * ebar.total // 2) -> None:
                found = INFERENCE_DONE.findall(text)
                if found:
                    ebar.update(max(base + int(found[-1][0]) - ebar.n, 0))

            if args.method == "instmove":  # a motion prior: evaluated inside the baseline's tracker
                step.run(["--config-file", config, "--weights", weights, "--out", str(detail),
                          *(["--references"] if weights else []), *common], eval_poll, script=HOST_EVAL)
            else:
                step.run(["--config-file", config, "--eval-only", *common, "MODEL.WEIGHTS", weights,
                          "TEST.VIS_FORMAT", "mp4", "TEST.VIS_VIDEOS", "1" if weights else "0",
                          "OUTPUT_DIR", str(run_dir)], eval_poll)
        found = json.loads(detail.read_text())
        results[row] = found["metrics"]
        references.update(found.get("references", {}))
        ebar.update(max((k + 1) * ebar.total // 2 - ebar.n, 0))
    ebar.close()
    for key, row in REFERENCES.items():
        if key in references:
            results[row] = references[key]

    width = max(len(n) for n in results)
    if args.method == "instmove":
        print(f"\n{dataset}, baseline tracker on simulated detections (mIoU: next-mask IoU; x100 except IDs):")
    else:
        print(f"\n{dataset} (x100{', IDF1 at score >= 0.5' if 'IDF1' in metrics else ''}):")
    print(f"{'model':<{width}} | " + " | ".join(f"{m:>5}" for m in metrics))
    for row, res in results.items():
        print(f"{row:<{width}} | " + " | ".join(fmt(res.get(m)) for m in metrics))
    videos = sorted((out / "trained" / "inference" / dataset / "overlays").glob("*.mp4"))
    print(f"overlay (masks coloured by track id): {shown(videos[0]) if videos else 'none written'}")
    total, cpu = time.time() - t0, cpu_seconds() - c0
    print(f"time: training {t_train / 60:.1f} min, total {total / 60:.1f} min (CPU time {cpu / 60:.1f} min)")
    (out / "quickstart.json").write_text(json.dumps({
        "method": args.method, "seed": seed, "iterations": max_iter, "metrics": results, "train_s": t_train,
        "total_s": total, "train_cpu_s": c_train, "total_cpu_s": cpu, "threads": os.environ.get("OMP_NUM_THREADS")}))
    return 0


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup above on SIGTERM too
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
