#!/usr/bin/env python
"""Motion priors inside two trained hosts on synthetic videos with non-linear fast motion and occlusion (paper 000's
claim in miniature). CPU; every stage is stored under ``--out`` and reused by a rerun.

1. Data (``instmove_hosts_data.py``): 192×192 videos of 3 movers in the built-in synthetic VIS look on curved,
   accelerating / braking, bouncing paths (4–18 px per frame), with scale change, squash-and-stretch and an
   orientation wobble, depth-ordered, a static bar drawn over them; visible-mask ground truth, written in
   YouTube-VIS format. Evaluation sets: seeds 1000 + s; prior training videos: seed 7.
2. Prior: the reduced InstMove of ``configs/instmove/synthetic.yaml`` at canvas ``--prior-size`` trained with the
   learning-test recipe (two-step iterations, Adam 1e-3, batch 16, step 2 = all but the memory) on windows of the
   training videos' visible-mask tracks, as the paper trains one InstMove per dataset on its training split.
   Checkpoint ``<out>/prior_s<S>.pth`` (resumed every 50 iterations).
3. Hosts, trained once on ``synth_vis_train_large`` with their quick-start configs (``train_net.py``; a checkpoint
   already at ``<out>/<host>/model_final.pth`` is used as is), then used with the same weights for every prior:
   ``baseline`` = per-frame Mask R-CNN + ``MaskIoUTracker`` (prior weight 1); ``ifr`` = IFR decoded frame by frame
   (``MODEL.IFR.TEST_MODE frame``) + ``QueryMatchingTracker`` (MinVIS-style, prior weight 0.5). The host's
   per-frame outputs are computed once per video (cached in ``<out>/host_outputs``) and replayed to the tracker with
   each prior (none, copy_last, linear, instmove), so the priors see identical candidates.
4. Metrics per (host, prior, evaluation seed): YouTube-VIS AP, IDF1, MOTA, ID switches (``ytvis_metrics``), the
   frames whose links differ from those with ``none`` and the videos whose output differs (does the motion term
   act at all?), plus the prior's ms/frame inside the tracker beside the host's own ms/frame.

    python benchmarks/instmove_hosts.py                      # everything (about 1 CPU hour under load)
    python benchmarks/instmove_hosts.py --stage prior        # only train / evaluate the prior
    python benchmarks/instmove_hosts.py --stage hosts        # only cache the hosts' per-frame outputs
    python benchmarks/instmove_hosts.py --prior-iterations 2000   # train the prior on (resumed), evaluate again
    python benchmarks/instmove_hosts.py --record             # also write the table into RESULTS.md
"""
from __future__ import annotations

import argparse
import json
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

import vidseg  # noqa: E402,F401  (registers everything)
from instmove_hosts_data import LENGTH, make_video, mask_tracks, sample_windows  # noqa: E402
from ifr_consistency_data import register  # noqa: E402
from projects.instmove.geometry import pad_masks  # noqa: E402
from projects.instmove.model import InstMoveNet  # noqa: E402
from projects.instmove.synthetic import copy_last, evaluate_predictors, linear_extrapolation, model_predictor  # noqa: E402
from projects.instmove.training import InstMoveLoss, two_step_iteration  # noqa: E402
from vidseg.config import load_config  # noqa: E402
from vidseg.tracking.motion import build_motion_prior  # noqa: E402

PRIORS = ("none", "copy_last", "linear", "instmove")
HOSTS = {  # name: (quick-start config, prior weight, label)
    "baseline": ("configs/baseline/quickstart.yaml", 1.0, "per-frame Mask R-CNN + MaskIoUTracker"),
    "ifr": ("configs/ifr/quickstart.yaml", 0.5, "IFR frame-by-frame + QueryMatchingTracker"),
}
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## InstMove inside host trackers"


def prior_cfg(size: int, weights: str = ""):
    cfg = load_config(str(ROOT / "configs" / "instmove" / "synthetic.yaml"))
    cfg.MODEL.INSTMOVE.INPUT_SIZE = size
    cfg.MODEL.INSTMOVE.WEIGHTS = weights
    return cfg


def canvas_tracks(tracks: list[np.ndarray], size: int) -> list[np.ndarray]:
    return [pad_masks(torch.from_numpy(t), size).numpy() > 0.5 for t in tracks]


def window_batches(tracks, seed: int, per_n: int = 100) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for n in (2, 3, 4):
        w = torch.from_numpy(sample_windows(rng, tracks, per_n, n).copy()).float()
        out.append({"past": w[:, :n], "target": w[:, n]})
    return out


def ensure_prior(args) -> Path:
    """Train (or resume) the prior; print its held-out next-mask IoU beside copy-last and linear."""
    final = args.out / f"prior_s{args.prior_size}.pth"
    state_path = args.out / f"prior_s{args.prior_size}_state.pth"
    cfg = prior_cfg(args.prior_size)
    torch.manual_seed(0)
    net = InstMoveNet(cfg)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    start = 0
    if state_path.is_file():
        st = torch.load(state_path, weights_only=False)
        net.load_state_dict(st["model"]), opt.load_state_dict(st["optimizer"])
        start = int(st["iteration"])
    if start < args.prior_iterations:
        tracks = canvas_tracks(mask_tracks(np.random.default_rng(7), args.train_videos), args.prior_size)
        loss_fn, t0 = InstMoveLoss(), time.time()
        net.train()
        for it in range(start, args.prior_iterations):
            if it % 50 == 0:
                rng = np.random.default_rng((0, it))  # stream re-seeded per chunk: resuming gives the same run
            n = int(rng.integers(2, 5))
            w = torch.from_numpy(sample_windows(rng, tracks, 16, n).copy()).float()
            loss = two_step_iteration(net, opt, loss_fn, {"past": w[:, :n], "target": w[:, n]}, "all_but_memory")
            if (it + 1) % 50 == 0 or it + 1 == args.prior_iterations:
                tmp = state_path.with_suffix(".tmp")
                torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "iteration": it + 1}, tmp)
                tmp.replace(state_path)
                print(f"prior it {it + 1}: step-2 loss {loss[1]:.3f} ({time.time() - t0:.0f} s)", flush=True)
    if not final.is_file() or start < args.prior_iterations:  # a resumed, longer run replaces the final weights
        torch.save({"model": net.state_dict(), "iteration": max(start, args.prior_iterations)}, final)
    held = window_batches(canvas_tracks(mask_tracks(np.random.default_rng(1000), 12), args.prior_size), seed=5)
    scores = {name: evaluate_predictors(held, fn) for name, fn in
              (("copy_last", copy_last), ("linear", linear_extrapolation), ("instmove", model_predictor(net)))}
    print("prior next-mask IoU on held-out windows (evaluation videos of seed 0, canvas "
          f"{args.prior_size}): " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)
    (args.out / "prior_iou.json").write_text(json.dumps(scores))
    return final


def ensure_host(host: str, out: Path, use_last: bool) -> Path:
    """The host's checkpoint: ``model_final.pth``, or with ``use_last`` the last one its run saved (a shortened
    schedule), else train it with its quick-start config."""
    folder = out / host
    if (folder / "model_final.pth").is_file():
        return folder / "model_final.pth"
    if use_last and (folder / "last_checkpoint").is_file():
        return folder / (folder / "last_checkpoint").read_text().strip()
    cmd = [sys.executable, str(ROOT / "train_net.py"), "--config-file", HOSTS[host][0], "OUTPUT_DIR", str(folder),
           "DATASETS.TEST", "()"]
    print("training host:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return folder / "model_final.pth"


class _Recorder:
    """Stands in for ``QueryMatchingTracker`` inside IFR's frame mode: keeps the per-frame queries."""

    last = None

    def __init__(self, *, paster, out_size, **_) -> None:
        self.paster, self.out_size, self.frames = paster, out_size, []
        _Recorder.last = self

    def update(self, t, fq):
        self.frames.append((t, fq))

    def finalize(self):
        return None


def host_outputs(host: str, cfg, model, video: dict):
    """Per-frame host outputs of one video (computed once, replayed for every prior) and the host seconds."""
    t0 = time.perf_counter()
    with torch.no_grad():
        if host == "baseline":
            h, w = int(video["height"]), int(video["width"])
            rec = model.detect_frames(video["image"], h, w)
        else:
            import projects.ifr.meta_arch as ifr_arch

            real, ifr_arch.QueryMatchingTracker = ifr_arch.QueryMatchingTracker, _Recorder
            try:
                model.inference(video)
            finally:
                ifr_arch.QueryMatchingTracker = real
            rec = _Recorder.last
    return rec, time.perf_counter() - t0


class _TimedPrior:
    def __init__(self, prior) -> None:
        self.prior, self.seconds, self.history = prior, 0.0, prior.history

    @property
    def active(self):
        return self.prior.active

    def predict(self, histories, target_frame):
        t0 = time.perf_counter()
        out = self.prior.predict(histories, target_frame)
        self.seconds += time.perf_counter() - t0
        return out


def track(host: str, cfg, rec, prior, weight: float):
    """(VideoInstances, per frame the track id of every candidate) of one video with one prior."""
    from vidseg.tracking import MaskIoUTracker, QueryMatchingTracker

    if host == "baseline":
        kwargs = MaskIoUTracker.from_config(cfg)
        kwargs.update(motion_prior=prior, motion_weight=weight)
        tr, frames = MaskIoUTracker(**kwargs), list(enumerate(rec))
    else:
        tr = QueryMatchingTracker(paster=rec.paster, out_size=rec.out_size, motion_prior=prior,
                                  motion_weight=weight, embed_weight=1.0, topk=cfg.MODEL.IFR.TEST_TOPK)
        frames = rec.frames
    tr.reset()
    ids = [list(tr.update(t, cands)) for t, cands in frames]
    return tr.finalize(), ids


def _links(prev: list[int], cur: list[int]) -> set[tuple[int, int]]:
    """(candidate at t, candidate at t − 1) pairs given the same track id: links, independent of id numbering."""
    where = {k: j for j, k in enumerate(prev) if k > 0}
    return {(i, where[k]) for i, k in enumerate(cur) if k in where}


def relinked_frames(ids: list[list[int]], reference: list[list[int]]) -> int:
    """Frames where the links from the previous frame differ from those with the reference prior: how often the
    motion term changed an association (the forward pass of ``MaskIoUTracker``; every link of
    ``QueryMatchingTracker``, including queries that never reach the output)."""
    return sum(_links(ids[t - 1], ids[t]) != _links(reference[t - 1], reference[t]) for t in range(1, len(ids)))


def same_output(a, b) -> bool:
    """Identical video outputs (tracks, scores, labels, masks)."""
    return (a.track_ids, a.scores, a.labels, a.masks) == (b.track_ids, b.scores, b.labels, b.masks)


def run_host(host: str, args, prior_weights: Path, results: dict, results_path: Path) -> None:
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.data import DatasetCatalog
    from detectron2.modeling import build_model

    from vidseg.data.build import build_video_test_loader
    from vidseg.data.datasets.synthetic import CLASS_NAMES
    from vidseg.evaluation.ytvis import ytvis_metrics

    config, weight, _ = HOSTS[host]
    todo = [s for s in args.seeds if any(f"{host}/{p}/{s}" not in results for p in PRIORS)
            or results[f"{host}/instmove/{s}"].get("prior_iterations") != args.prior_iterations]  # prior trained on
    if not todo:
        return
    cfg = load_config(str(ROOT / config))
    cfg.defrost()
    if host == "ifr":
        cfg.MODEL.IFR.TEST_MODE = "frame"
    cfg.MODEL.WEIGHTS = str(ensure_host(host, args.out, args.use_last_checkpoint))
    iteration = torch.load(cfg.MODEL.WEIGHTS, map_location="cpu", weights_only=False).get("iteration", -1) + 1
    model = None
    pcfg = prior_cfg(args.prior_size, str(prior_weights)) if prior_weights else None
    for seed in todo:
        name = f"instmove_hosts_eval_s{seed}"
        rng = np.random.default_rng(1000 + seed)
        register(name, args.out / "data" / name, [(make_video(rng), None) for _ in range(args.videos)])
        records = DatasetCatalog.get(name)
        cache = args.out / "host_outputs" / f"{host}_s{seed}.pkl"  # per-frame host outputs, reused by a rerun
        if cache.is_file():
            cached, host_s = pickle.loads(cache.read_bytes())
        else:
            if model is None:
                model = build_model(cfg)
                DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
                model.eval()
            cached, host_s = [], 0.0
            for batch in build_video_test_loader(cfg, name):
                rec, sec = host_outputs(host, cfg, model, batch[0])
                cached.append((batch[0]["video_id"], rec))
                host_s += sec
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.with_suffix(".tmp").write_bytes(pickle.dumps((cached, host_s)))
            cache.with_suffix(".tmp").replace(cache)
        if pcfg is None:  # --stage hosts: host outputs only
            continue
        frames = args.videos * LENGTH
        for pname in PRIORS:
            pcfg.MODEL.MOTION_PRIOR.NAME = pname
            prior = _TimedPrior(build_motion_prior(pcfg))
            t0 = time.perf_counter()
            tracked = {vid: track(host, cfg, rec, prior, weight) for vid, rec in cached}
            track_s = time.perf_counter() - t0
            preds = {vid: out for vid, (out, _) in tracked.items()}
            if pname == "none":
                reference = dict(tracked)
            relinked = sum(relinked_frames(ids, reference[vid][1]) for vid, (_, ids) in tracked.items())
            differ = sum(not same_output(out, reference[vid][0]) for vid, (out, _) in tracked.items())
            metrics, details = ytvis_metrics(records, preds, CLASS_NAMES)
            by_tau = {tau: {k: v[k] for k in ("IDF1", "MOTA", "IDs")}
                      for tau, v in details["consistency_by_score_threshold"].items()}
            results[f"{host}/{pname}/{seed}"] = {
                "AP": metrics["AP"], "AP50": metrics["AP50"], "IDF1": metrics["IDF1"], "MOTA": metrics["MOTA"],
                "IDs": int(metrics["IDs"]), "host_ms": 1000 * host_s / frames,
                "prior_ms": 1000 * prior.seconds / frames, "tracker_ms": 1000 * track_s / frames,
                "host_iterations": iteration, "relinked_frames": relinked, "frames": frames,
                "videos_differ": differ, "videos": len(tracked),
                "prior_iterations": args.prior_iterations,
                "consistency_by_score_threshold": by_tau}
            results_path.write_text(json.dumps(results, indent=1, sort_keys=True))
            print(host, pname, seed, results[f"{host}/{pname}/{seed}"], flush=True)


def _value(row: dict, key: str, tau: str | None):
    return row[key] if tau is None else row["consistency_by_score_threshold"][tau][key]


COLUMNS = (("AP", None), ("IDF1", "0.5"), ("IDs", "0.5"), ("IDF1", "0.3"), ("IDs", "0.3"))


def table(results: dict, seeds) -> str:
    head = " | ".join(f"{k}{'' if t is None else f' (score ≥ {t})'}" for k, t in COLUMNS)
    lines = [f"| host (training iterations) | prior | {head} | frames relinked vs none | videos whose output differs "
             "from none | prior ms/frame | host ms/frame |", "| --- | --- |" + " --- |" * (len(COLUMNS) + 4)]
    for host in HOSTS:
        for p in PRIORS:
            rows = [results.get(f"{host}/{p}/{s}") for s in seeds]
            if any(r is None for r in rows):
                continue
            cols = []
            for key, tau in COLUMNS:
                vals = [_value(r, key, tau) for r in rows]
                cols.append(" / ".join(f"{v:.0f}" if key == "IDs" else f"{100 * v:.1f}" for v in vals))
            cols.append(" / ".join(str(r.get("relinked_frames", "?")) for r in rows))
            cols.append(" / ".join(f"{r.get('videos_differ', '?')} of {r.get('videos', '?')}" for r in rows))
            lines.append(f"| {host} ({rows[0]['host_iterations']}) | {p} | {' | '.join(cols)} | "
                         f"{np.mean([r['prior_ms'] for r in rows]):.1f} | {np.mean([r['host_ms'] for r in rows]):.0f} |")
    return "\n".join(lines)


def verdict(results: dict, seeds) -> str:
    """Per host and column: is InstMove strictly better than every other prior on every seed?"""
    out = []
    for host in HOSTS:
        if any(f"{host}/{p}/{s}" not in results for p in PRIORS for s in seeds):
            continue
        parts = []
        for key, tau in COLUMNS:
            def better(s, p):
                a, b = (_value(results[f"{host}/{q}/{s}"], key, tau) for q in ("instmove", p))
                return a < b if key == "IDs" else a > b

            ok = all(better(s, p) for p in PRIORS[:-1] for s in seeds)
            parts.append(f"{key}{'' if tau is None else '@' + tau} {'yes' if ok else 'NO'}")
        out.append(f"{host}: InstMove strictly better than none, copy_last and linear on every seed — "
                   + ", ".join(parts))
    return "; ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "output" / "instmove_hosts")
    ap.add_argument("--stage", choices=["prior", "hosts", "all"], default="all",
                    help="prior: train / evaluate the prior only; hosts: cache the hosts' per-frame outputs only")
    ap.add_argument("--prior-size", type=int, default=48)
    ap.add_argument("--prior-iterations", type=int, default=400)
    ap.add_argument("--train-videos", type=int, default=60)
    ap.add_argument("--videos", type=int, default=12)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--hosts", nargs="+", default=list(HOSTS), choices=list(HOSTS))
    ap.add_argument("--use-last-checkpoint", action="store_true",
                    help="use a host's last saved checkpoint when its training has not finished")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if args.stage == "hosts":
        for host in args.hosts:
            run_host(host, args, None, {}, results_path)
        return
    weights = ensure_prior(args)
    if args.stage == "prior":
        return
    for host in args.hosts:
        run_host(host, args, weights, results, results_path)
    text = table(results, args.seeds)
    prior_iou = json.loads((args.out / "prior_iou.json").read_text())
    summary = verdict(results, args.seeds)
    print(text)
    print("prior held-out next-mask IoU: " + ", ".join(f"{k} {v:.3f}" for k, v in prior_iou.items()))
    print("verdict:", summary)
    if args.record:
        cmd = " ".join(["python benchmarks/instmove_hosts.py"] + sys.argv[1:]).replace(" --record", "")
        block = (f"{SECTION}\n\nCommand: `{cmd}` (CPU, 1 thread, measured under load). See the script docstring for "
                 f"the protocol. Prior next-mask IoU on held-out windows: "
                 + ", ".join(f"{k} {v:.3f}" for k, v in prior_iou.items())
                 + f".\n\n{text}\n\nVerdict: {summary}.\n")
        body = RESULTS.read_text()
        pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
        body = pattern.sub(block.rstrip("\n"), body) if pattern.search(body) else body.rstrip("\n") + "\n\n" + block
        RESULTS.write_text(body)


if __name__ == "__main__":
    main()
