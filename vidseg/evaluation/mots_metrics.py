"""KITTI-MOTS metrics as TrackEval computes them (``datasets/kitti_mots.py``, ``metrics/clear.py``,
``metrics/identity.py``), on pycocotools RLEs.

Per sequence and class: mask IoU similarity; unmatched predictions lying more than 50 % inside the ignore
region are removed (preprocessing); CLEAR MOT with IoU ≥ 0.5 matching that prefers continuing the previous
frame's matches (sMOTSA = (Σ IoU(TP) − FP − IDSW) / |GT|, MOTSA, MOTSP, IDSW counted against the last matched
track of a GT object); ID metrics from the global track assignment. Counts are summed over sequences and over
classes ("detection averaged"). HOTA comes from ``trackeval`` when it is installed (it is then used as a
library on the same preprocessed data).

Frames are lists of ``(obj_id, class_id, rle)``; ignore regions are one RLE (or ``None``) per frame.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from vidseg.structures.masks import ioa_matrix, iou_matrix

EPS = np.finfo("float").eps
THRESHOLD = 0.5
CLEAR_SUMMED = ("CLR_TP", "CLR_FN", "CLR_FP", "IDSW", "MT", "PT", "ML", "Frag", "CLR_Frames", "MOTP_sum")
ID_SUMMED = ("IDTP", "IDFN", "IDFP")

Frame = Sequence[tuple[int, int, dict]]


def preprocess_sequence(
    gt: Sequence[Frame], tracker: Sequence[Frame], ignore: Sequence[dict | None], class_id: int
) -> dict[str, Any]:
    """TrackEval's KITTI-MOTS ``get_preprocessed_seq_data`` for one class (ids relabelled 0..n-1)."""
    n_t = len(gt)
    data: dict[str, Any] = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    for t in range(n_t):
        g = [(i, r) for i, c, r in gt[t] if c == class_id]
        d = [(i, r) for i, c, r in tracker[t] if c == class_id]
        sim = iou_matrix([r for _, r in g], [r for _, r in d])
        unmatched = np.arange(len(d))
        if g and d:
            scores = sim.copy()
            scores[scores < THRESHOLD - EPS] = -10000
            rows, cols = linear_sum_assignment(-scores)
            cols = cols[scores[rows, cols] > 0 + EPS]
            unmatched = np.delete(unmatched, cols, axis=0)
        region = ignore[t] if t < len(ignore) else None
        if region is not None and unmatched.size:
            inside = ioa_matrix([d[i][1] for i in unmatched], [region])
            remove = unmatched[np.any(inside > THRESHOLD + EPS, axis=1)]
        else:
            remove = np.zeros(0, dtype=int)
        keep = [i for i in range(len(d)) if i not in set(remove.tolist())]
        data["gt_ids"].append(np.asarray([i for i, _ in g], dtype=int))
        data["tracker_ids"].append(np.asarray([d[i][0] for i in keep], dtype=int))
        data["similarity_scores"].append(sim[:, keep])
    for key, n_key in (("gt_ids", "num_gt_ids"), ("tracker_ids", "num_tracker_ids")):
        uniq = np.unique(np.concatenate(data[key])) if data[key] else np.zeros(0, int)
        lookup = {int(v): k for k, v in enumerate(uniq)}
        data[key] = [np.asarray([lookup[int(v)] for v in ids], dtype=int) for ids in data[key]]
        data[n_key] = len(uniq)
    data["num_gt_dets"] = int(sum(len(x) for x in data["gt_ids"]))
    data["num_tracker_dets"] = int(sum(len(x) for x in data["tracker_ids"]))
    data["num_timesteps"] = n_t
    return data


def clear_counts(data: Mapping[str, Any]) -> dict[str, float]:
    """TrackEval ``CLEAR.eval_sequence`` counts (TP, FN, FP, IDSW, MT, PT, ML, Frag, MOTP_sum, frames)."""
    res = {k: 0.0 for k in CLEAR_SUMMED}
    res["CLR_Frames"] = data["num_timesteps"]
    if data["num_tracker_dets"] == 0:
        res["CLR_FN"], res["ML"] = data["num_gt_dets"], data["num_gt_ids"]
        return res
    if data["num_gt_dets"] == 0:
        res["CLR_FP"] = data["num_tracker_dets"]
        return res
    n = data["num_gt_ids"]
    gt_count, matched_count, frag = np.zeros(n), np.zeros(n), np.zeros(n)
    prev_tracker = np.full(n, np.nan)
    prev_step = np.full(n, np.nan)
    for gt_ids, tr_ids, sim in zip(data["gt_ids"], data["tracker_ids"], data["similarity_scores"]):
        if len(gt_ids) == 0:
            res["CLR_FP"] += len(tr_ids)
            continue
        if len(tr_ids) == 0:
            res["CLR_FN"] += len(gt_ids)
            gt_count[gt_ids] += 1
            continue
        score = 1000 * (tr_ids[None, :] == prev_step[gt_ids[:, None]]) + sim
        score[sim < THRESHOLD - EPS] = 0
        rows, cols = linear_sum_assignment(-score)
        ok = score[rows, cols] > 0 + EPS
        rows, cols = rows[ok], cols[ok]
        m_gt, m_tr = gt_ids[rows], tr_ids[cols]
        prev = prev_tracker[m_gt]
        res["IDSW"] += int(np.sum(~np.isnan(prev) & (m_tr != prev)))
        gt_count[gt_ids] += 1
        matched_count[m_gt] += 1
        not_tracked_before = np.isnan(prev_step)
        prev_tracker[m_gt] = m_tr
        prev_step[:] = np.nan
        prev_step[m_gt] = m_tr
        frag += not_tracked_before & ~np.isnan(prev_step)
        res["CLR_TP"] += len(m_gt)
        res["CLR_FN"] += len(gt_ids) - len(m_gt)
        res["CLR_FP"] += len(tr_ids) - len(m_gt)
        res["MOTP_sum"] += float(sim[rows, cols].sum())
    ratio = matched_count[gt_count > 0] / gt_count[gt_count > 0]
    res["MT"] = int(np.sum(ratio > 0.8))
    res["PT"] = int(np.sum(ratio >= 0.2)) - res["MT"]
    res["ML"] = n - res["MT"] - res["PT"]
    res["Frag"] = float(np.sum(frag[frag > 0] - 1))
    return res


def identity_counts(data: Mapping[str, Any]) -> dict[str, float]:
    """TrackEval ``Identity.eval_sequence`` counts (IDTP, IDFN, IDFP)."""
    if data["num_tracker_dets"] == 0:
        return {"IDTP": 0, "IDFN": data["num_gt_dets"], "IDFP": 0}
    if data["num_gt_dets"] == 0:
        return {"IDTP": 0, "IDFN": 0, "IDFP": data["num_tracker_dets"]}
    ng, nt = data["num_gt_ids"], data["num_tracker_ids"]
    potential = np.zeros((ng, nt))
    gt_count, tr_count = np.zeros(ng), np.zeros(nt)
    for gt_ids, tr_ids, sim in zip(data["gt_ids"], data["tracker_ids"], data["similarity_scores"]):
        gi, ti = np.nonzero(sim >= THRESHOLD)
        np.add.at(potential, (gt_ids[gi], tr_ids[ti]), 1)
        gt_count[gt_ids] += 1
        tr_count[tr_ids] += 1
    fp = np.zeros((ng + nt, ng + nt))
    fn = np.zeros((ng + nt, ng + nt))
    fp[ng:, :nt] = 1e10
    fn[:ng, nt:] = 1e10
    fn[:ng, :nt] = gt_count[:, None]
    fn[np.arange(ng), nt + np.arange(ng)] = gt_count
    fp[:ng, :nt] = tr_count[None, :]
    fp[ng + np.arange(nt), np.arange(nt)] = tr_count
    fn[:ng, :nt] -= potential
    fp[:ng, :nt] -= potential
    rows, cols = linear_sum_assignment(fn + fp)
    idfn = int(fn[rows, cols].sum())
    idfp = int(fp[rows, cols].sum())
    return {"IDTP": int(gt_count.sum()) - idfn, "IDFN": idfn, "IDFP": idfp}


def final_fields(c: Mapping[str, float]) -> dict[str, float]:
    """sMOTSA, MOTSA, MOTSP, IDSW, TP/FP/FN, IDF1 / IDP / IDR, MT / PT / ML from summed counts."""
    tp, fn, fp, idsw = c["CLR_TP"], c["CLR_FN"], c["CLR_FP"], c["IDSW"]
    n_gt = max(1.0, tp + fn)
    out = {
        "sMOTSA": (c["MOTP_sum"] - fp - idsw) / n_gt,
        "MOTSA": (tp - fp - idsw) / n_gt,
        "MOTSP": c["MOTP_sum"] / max(1.0, tp),
        "IDSW": int(idsw),
        "TP": int(tp),
        "FP": int(fp),
        "FN": int(fn),
        "MT": int(c["MT"]),
        "PT": int(c["PT"]),
        "ML": int(c["ML"]),
        "Frag": int(c["Frag"]),
    }
    if "IDTP" in c:
        idtp, idfn, idfp = c["IDTP"], c["IDFN"], c["IDFP"]
        out["IDF1"] = idtp / max(1.0, idtp + 0.5 * idfp + 0.5 * idfn)
        out["IDP"] = idtp / max(1.0, idtp + idfp)
        out["IDR"] = idtp / max(1.0, idtp + idfn)
    return out


def _sum(parts: Sequence[Mapping[str, float]], keys: Sequence[str]) -> dict[str, float]:
    return {k: sum(p[k] for p in parts) for k in keys}


def _hota_metric() -> Any | None:
    try:
        from trackeval.metrics import HOTA
    except ImportError:
        return None
    return HOTA()


def evaluate_mots(
    sequences: Mapping[str, tuple[Sequence[Frame], Sequence[Frame], Sequence[dict | None]]],
    classes: Mapping[int, str],
) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics over sequences ``{name: (gt_frames, tracker_frames, ignore_regions)}`` for ``classes``
    ``{class_id: name}``: combined (detection-averaged) values plus ``<metric>-<class>`` per class."""
    hota = _hota_metric()
    per_class: dict[str, dict[str, Any]] = {}
    details: dict[str, Any] = {}
    for cls_id, cls_name in classes.items():
        parts, hota_parts = [], {}
        for name, (gt, tr, ign) in sequences.items():
            if len(tr) != len(gt):
                raise ValueError(f"{name}: prediction covers {len(tr)} frames but the ground truth {len(gt)}")
            data = preprocess_sequence(gt, tr, ign, cls_id)
            counts = {**clear_counts(data), **identity_counts(data)}
            parts.append(counts)
            details.setdefault(name, {})[cls_name] = final_fields(counts)
            if hota is not None:
                hota_parts[name] = hota.eval_sequence(data)
        counts = _sum(parts, CLEAR_SUMMED + ID_SUMMED)
        per_class[cls_name] = {"counts": counts}
        if hota is not None:
            per_class[cls_name]["hota"] = hota.combine_sequences(hota_parts) if hota_parts else None
    combined = final_fields(_sum([v["counts"] for v in per_class.values()], CLEAR_SUMMED + ID_SUMMED))
    if hota is not None:
        cls_hota = {k: v["hota"] for k, v in per_class.items() if v["hota"] is not None}
        if cls_hota:
            combined.update(_hota_summary(hota.combine_classes_det_averaged(cls_hota)))
    metrics = dict(combined)
    for cls_name, v in per_class.items():
        fields = final_fields(v["counts"])
        if hota is not None and v["hota"] is not None:
            fields.update(_hota_summary(v["hota"]))
        for k, val in fields.items():
            metrics[f"{k}-{cls_name}"] = val
    return metrics, details


def _hota_summary(res: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(np.mean(res[k])) for k in ("HOTA", "DetA", "AssA", "LocA")}
