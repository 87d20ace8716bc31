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
4. λ (the motion cost weight) of every prior is chosen per host on validation videos (``--val-seeds``, default
   100 and 101, disjoint from the test seeds) from ``--weights`` by mean AP + IDF1, ties to the smaller λ; each
   prior is then evaluated at its own λ on the test seeds (``--seeds``). The InstMove prior runs with
   ``MODEL.INSTMOVE.GAPS`` = ``--gaps`` (default ``ignore``, spec §5.3; ``roll``: frames a track missed are
   filled by the prior's own predictions first).
5. Metrics per (host, prior, λ, seed): YouTube-VIS AP, IDF1, MOTA, ID switches (``ytvis_metrics``), the
   frames whose links differ from those with ``none`` and the videos whose output differs (does the motion term
   act at all?), plus the prior's ms/frame inside the tracker beside the host's own ms/frame. The report
   (``instmove_hosts_report.py``) gives per-seed values, means, and paired differences InstMove − other prior.

    python benchmarks/instmove_hosts.py                      # everything: hosts ≈ 17 + 21 min, prior 400 it. ≈ 3 min,
                                                             # caching + replays ≈ 10 min per host (1 thread each)
    python benchmarks/instmove_hosts.py --stage prior        # only train / evaluate the prior
    python benchmarks/instmove_hosts.py --stage hosts        # only cache the hosts' per-frame outputs
    python benchmarks/instmove_hosts.py --prior-iterations 2000   # train the prior on (resumed), evaluate again
    python benchmarks/instmove_hosts.py --record             # also write the table into RESULTS.md
"""
from __future__ import annotations

import argparse
import json
import pickle
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
from instmove_hosts_report import PRIORS, SECTION, key, paired, record, table  # noqa: E402
from ifr_consistency_data import register  # noqa: E402
from projects.instmove.geometry import pad_masks  # noqa: E402
from projects.instmove.model import InstMoveNet  # noqa: E402
from projects.instmove.synthetic import copy_last, evaluate_predictors, linear_extrapolation, model_predictor  # noqa: E402
from projects.instmove.training import InstMoveLoss, two_step_iteration  # noqa: E402
from vidseg.config import load_config  # noqa: E402
from vidseg.tracking.motion import build_motion_prior  # noqa: E402

HOSTS = {  # name: (quick-start config, prior weight, label)
    "baseline": ("configs/baseline/quickstart.yaml", 1.0, "per-frame Mask R-CNN + MaskIoUTracker"),
    "ifr": ("configs/ifr/quickstart.yaml", 0.5, "IFR frame-by-frame + QueryMatchingTracker"),
}
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


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

    config = HOSTS[host][0]
    cfg = load_config(str(ROOT / config))
    cfg.defrost()
    if host == "ifr":
        cfg.MODEL.IFR.TEST_MODE = "frame"
    cfg.MODEL.WEIGHTS = str(ensure_host(host, args.out, args.use_last_checkpoint))
    _ITER[host] = torch.load(cfg.MODEL.WEIGHTS, map_location="cpu", weights_only=False).get("iteration", -1) + 1
    model = None
    pcfg = prior_cfg(args.prior_size, str(prior_weights)) if prior_weights else None
    videos = {}
    for seed in list(args.val_seeds) + list(args.seeds):
        name = f"instmove_hosts_eval_s{seed}"
        rng = np.random.default_rng(1000 + seed)
        register(name, args.out / "data" / name, [(make_video(rng, args.appearance), None)
                                                             for _ in range(args.videos)])
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
        videos[seed] = (records, cached, host_s)
    if pcfg is None:
        return
    pcfg.MODEL.INSTMOVE.GAPS = args.gaps
    tag = f"{args.prior_iterations}-{args.gaps}"
    grid = [float(w) for w in (args.weights or [HOSTS[host][1]])]
    select = results.setdefault("select", {}).setdefault(host, {})
    for pname in PRIORS:
        if pname == "none":
            lam = 0.0
        elif args.val_seeds:  # λ chosen on the validation seeds (AP + IDF1 at score ≥ 0.5, ties: smaller λ)
            for w in grid:
                for seed in args.val_seeds:
                    replay(host, cfg, videos[seed], pcfg, pname, w, seed, tag, results, results_path)
            score = {w: np.mean([_row(results, host, pname, s, w)["AP"] + _row(results, host, pname, s, w)["IDF1"]
                                 for s in args.val_seeds]) for w in grid}
            lam = max(grid, key=lambda w: (score[w], -w))
            print(f"{host} {pname}: validation AP + IDF1 by λ " + ", ".join(f"{w:g}: {100 * v:.1f}"
                                                                            for w, v in score.items()), flush=True)
        else:
            lam = grid[0]
        select[pname] = lam
        for seed in args.seeds:
            replay(host, cfg, videos[seed], pcfg, pname, lam, seed, tag, results, results_path)
    results_path.write_text(json.dumps(results, indent=1, sort_keys=True))


def _row(results: dict, host: str, pname: str, seed: int, weight: float) -> dict:
    return results[key(host, pname, seed, weight)]


def replay(host, cfg, video_set, pcfg, pname, weight, seed, tag, results, results_path) -> None:
    """Track the cached host outputs of one seed with one prior at one λ; metrics into ``results``."""
    from vidseg.data.datasets.synthetic import CLASS_NAMES
    from vidseg.evaluation.ytvis import ytvis_metrics

    k = key(host, pname, seed, weight)
    if k in results and (pname != "instmove" or results[k].get("prior") == tag):
        return
    records, cached, host_s = video_set
    pcfg.MODEL.MOTION_PRIOR.NAME = pname
    prior = _TimedPrior(build_motion_prior(pcfg))
    t0 = time.perf_counter()
    tracked = {vid: track(host, cfg, rec, prior, weight) for vid, rec in cached}
    track_s = time.perf_counter() - t0
    preds = {vid: out for vid, (out, _) in tracked.items()}
    reference = _reference(host, cfg, cached, seed)
    relinked = sum(relinked_frames(ids, reference[vid][1]) for vid, (_, ids) in tracked.items())
    differ = sum(not same_output(out, reference[vid][0]) for vid, (out, _) in tracked.items())
    metrics, details = ytvis_metrics(records, preds, CLASS_NAMES)
    by_tau = {tau: {k: v[k] for k in ("IDF1", "MOTA", "IDs")}
              for tau, v in details["consistency_by_score_threshold"].items()}
    frames = len(cached) * LENGTH
    results[k] = {
        "AP": metrics["AP"], "AP50": metrics["AP50"], "IDF1": metrics["IDF1"], "MOTA": metrics["MOTA"],
        "IDs": int(metrics["IDs"]), "host_ms": 1000 * host_s / frames, "prior_ms": 1000 * prior.seconds / frames,
        "tracker_ms": 1000 * track_s / frames, "host_iterations": _ITER[host], "relinked_frames": relinked,
        "frames": frames, "videos_differ": differ, "videos": len(tracked), "weight": weight, "prior": tag,
        "consistency_by_score_threshold": by_tau}
    results_path.write_text(json.dumps(results, indent=1, sort_keys=True))
    print(k, {m: results[k][m] for m in ("AP", "IDF1", "IDs", "relinked_frames", "prior_ms")}, flush=True)


def _reference(host, cfg, cached, seed) -> dict:
    """{video: (output, ids)} with the prior ``none`` (computed once per host and seed)."""
    if (host, seed) not in _REFERENCE:
        none = _TimedPrior(build_motion_prior(prior_cfg(16)))
        _REFERENCE[(host, seed)] = {vid: track(host, cfg, rec, none, 0.0) for vid, rec in cached}
    return _REFERENCE[(host, seed)]


_REFERENCE: dict = {}  # (host, seed) -> the ``none`` tracking of that seed's videos (links / outputs to compare)
_ITER: dict = {}


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
    ap.add_argument("--val-seeds", type=int, nargs="*", default=[100, 101],
                    help="seeds whose videos choose each prior's λ (none: every prior at the host's default λ)")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0], help="λ grid")
    ap.add_argument("--gaps", choices=["roll", "ignore"], default="ignore", help="MODEL.INSTMOVE.GAPS of the prior")
    ap.add_argument("--hosts", nargs="+", default=list(HOSTS), choices=list(HOSTS))
    ap.add_argument("--appearance", choices=["varied", "same_class", "identical"], default="varied",
                    help="evaluation videos: movers of random class / colour / texture, of one class (own colour jitter "
                         "and texture), or all alike; use its own --out, sharing the hosts and the prior")
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
    text = table(results, args.hosts, args.seeds)
    diffs, holds = paired(results, args.hosts, args.seeds)
    prior_iou = json.loads((args.out / "prior_iou.json").read_text())
    summary = "; ".join(f"{h}: InstMove {'better' if ok else 'NOT better'} than none, copy_last and linear in mean AP, "
                        "IDF1 and ID switches (score ≥ 0.5)" for h, ok in holds.items())
    print(text, diffs, sep="\n\n")
    print("prior held-out next-mask IoU: " + ", ".join(f"{k} {v:.3f}" for k, v in prior_iou.items()))
    print("verdict:", summary)
    if args.record:
        cmd = " ".join(["python benchmarks/instmove_hosts.py"] + sys.argv[1:]).replace(" --record", "")
        notes = (f"Test seeds {args.seeds}, validation seeds {args.val_seeds} ({args.videos} videos each); λ of each "
                 f"prior chosen from {args.weights} by validation AP + IDF1; prior {args.prior_iterations} iterations, "
                 f"gaps '{args.gaps}', appearance '{args.appearance}'.")
        section = SECTION + {"varied": "", "same_class": ", movers of one class", "identical": ", same-looking movers"}[args.appearance]
        record(RESULTS, cmd, prior_iou, text, diffs, summary, notes, section)

if __name__ == "__main__":
    main()
