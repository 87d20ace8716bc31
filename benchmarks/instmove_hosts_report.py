"""Table and verdict of ``benchmarks/instmove_hosts.py``: each prior at its λ (chosen on the validation seeds),
per test seed and as the mean, and the paired differences InstMove − other prior over the test seeds."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

PRIORS = ("none", "copy_last", "linear", "instmove")
COLUMNS = (("AP", None), ("IDF1", "0.5"), ("IDs", "0.5"), ("IDF1", "0.3"), ("IDs", "0.3"))
SECTION = "## InstMove inside host trackers"


def key(host: str, prior: str, seed: int, weight: float) -> str:
    """The results.json key of one (host, prior, seed, λ) run."""
    return f"{host}/{prior}/{seed}/w{weight:g}"


def value(row: dict, name: str, tau: str | None) -> float:
    v = row[name] if tau is None else row["consistency_by_score_threshold"][tau][name]
    return float(v) if name == "IDs" else 100 * float(v)


def rows_of(results: dict, host: str, prior: str, seeds) -> list[dict] | None:
    w = results.get("select", {}).get(host, {}).get(prior)
    if w is None:
        return None
    rows = [results.get(key(host, prior, s, w)) for s in seeds]
    return None if any(r is None for r in rows) else rows


def _fmt(name: str, v: float) -> str:
    return f"{v:.0f}" if name == "IDs" else f"{v:.1f}"


def table(results: dict, hosts, seeds) -> str:
    head = " | ".join(f"{k}{'' if t is None else f' (score ≥ {t})'}" for k, t in COLUMNS)
    lines = [f"| host (training iterations) | prior | λ | {head} | frames relinked vs none | videos whose output "
             "differs from none | prior ms/frame | host ms/frame |", "| --- | --- | --- |" + " --- |" * (len(COLUMNS) + 4)]
    for host in hosts:
        for p in PRIORS:
            rows = rows_of(results, host, p, seeds)
            if rows is None:
                continue
            cols = []
            for name, tau in COLUMNS:
                vals = [value(r, name, tau) for r in rows]
                cols.append(" / ".join(_fmt(name, v) for v in vals) + f" (**{np.mean(vals):.1f}**)")
            cols.append(" / ".join(str(r["relinked_frames"]) for r in rows))
            cols.append(" / ".join(f"{r['videos_differ']} of {r['videos']}" for r in rows))
            lam = "–" if p == "none" else f"{rows[0]['weight']:g}"
            lines.append(f"| {host} ({rows[0]['host_iterations']}) | {p} | {lam} | {' | '.join(cols)} | "
                         f"{np.mean([r['prior_ms'] for r in rows]):.1f} | {np.mean([r['host_ms'] for r in rows]):.0f} |")
    return "\n".join(lines)


def paired(results: dict, hosts, seeds) -> tuple[str, dict]:
    """Markdown table of InstMove − other (mean ± std over seeds, wins out of seeds) and {host: claim holds}."""
    lines = ["| host | InstMove − | " + " | ".join(f"{k}{'' if t is None else '@' + t}" for k, t in COLUMNS) + " |",
             "| --- | --- |" + " --- |" * len(COLUMNS)]
    holds = {}
    for host in hosts:
        mine = rows_of(results, host, "instmove", seeds)
        if mine is None:
            continue
        ok = True
        for p in PRIORS[:-1]:
            other = rows_of(results, host, p, seeds)
            if other is None:
                ok = False
                continue
            cells = []
            for name, tau in COLUMNS:
                d = np.array([value(a, name, tau) - value(b, name, tau) for a, b in zip(mine, other)])
                wins = int(np.sum(d < 0 if name == "IDs" else d > 0))
                better = d.mean() < 0 if name == "IDs" else d.mean() > 0
                if tau in (None, "0.5") and not better:  # the acceptance columns: AP, IDF1 and IDs at score ≥ 0.5
                    ok = False
                cells.append(f"{d.mean():+.1f} ± {d.std(ddof=1) if len(d) > 1 else 0.0:.1f} ({wins}/{len(d)})")
            lines.append(f"| {host} | {p} | " + " | ".join(cells) + " |")
        holds[host] = ok
    return "\n".join(lines), holds


def record(results_md: Path, cmd: str, prior_iou: dict, text: str, diffs: str, summary: str, notes: str,
           section: str = SECTION) -> None:
    """Write (or replace) the ``section`` block of ``results_md``."""
    block = (f"{section}\n\nCommand: `{cmd}` (CPU, 1 thread). See the script docstring for the protocol. Prior "
             "next-mask IoU on held-out windows: " + ", ".join(f"{k} {v:.3f}" for k, v in prior_iou.items())
             + f".\n\n{notes}\n\n{text}\n\nPaired differences over the test seeds (InstMove − other; mean ± std, "
             f"in parentheses the seeds where InstMove is better):\n\n{diffs}\n\nVerdict: {summary}.\n")
    body = results_md.read_text()
    pattern = re.compile(re.escape(section) + r"\n.*?(?=\n## |\Z)", re.S)
    body = pattern.sub(lambda _: block.rstrip("\n") + "\n", body) if pattern.search(body) else body.rstrip("\n") + "\n\n" + block
    results_md.write_text(body)
