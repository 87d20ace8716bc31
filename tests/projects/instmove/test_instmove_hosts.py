"""Host plug-ins: the host configs load with the ``instmove`` prior; IFR's frame-by-frame mode links queries
through ``QueryMatchingTracker`` with a motion prior, and hosts never import ``projects.instmove``."""
import re
from pathlib import Path

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model

from vidseg.config import load_config
from vidseg.data.build import build_video_test_loader

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_host_configs_select_the_prior_by_name():
    for path in sorted((ROOT / "configs" / "instmove" / "hosts").glob("*.yaml")):
        cfg = load_config(str(path))
        assert cfg.MODEL.MOTION_PRIOR.NAME == "instmove" and cfg.MODEL.INSTMOVE.IMAGE_ENCODER == "none"


def test_no_host_imports_instmove():
    pattern = re.compile(r"^\s*(from|import)\s+projects\.instmove", re.M)
    hits = [str(f) for base in ("vidseg", "projects/ifr", "projects/moseg", "projects/isvos", "projects/instflow")
            for f in (ROOT / base).rglob("*.py") if pattern.search(f.read_text())]
    assert hits == []


def test_ifr_frame_mode_tracks_queries_with_a_prior():
    cfg = load_config(str(ROOT / "configs" / "tests" / "ifr_frame.yaml"))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    assert model.test_mode == "frame" and model.frame_tracker_args["motion_prior"].history >= 2
    video = next(iter(build_video_test_loader(cfg, "synth_vis_val")))[0]
    out = model([video])[0]["video_instances"]
    n = len(video["image"])
    assert len(out.track_ids) == cfg.MODEL.IFR.TEST_TOPK
    assert all(len(m) == n for m in out.masks) and out.image_size == (video["height"], video["width"])
    assert DatasetCatalog.get("synth_vis_val")


def _scripted_ifr(prior: str, weight: float):
    """IFR frame mode built from config, its decoder replaced by scripted per-frame queries: two objects, A (rows
    2–6 of the 16×16 mask grid) moving right by 3 cells per frame and B (rows 9–13) moving left; at frame 2 the
    query embeddings prefer the swapped pairing by 0.1 in cosine per track (0.2 in total), so only the motion term
    (MODEL.MOTION_PRIOR.NAME / WEIGHT from the config) can keep the identities. Returns, per output track, the
    row band (0 = A's, 1 = B's) its mask occupies in each frame."""
    cfg = load_config(str(ROOT / "configs" / "tests" / "ifr_frame.yaml"))
    cfg.defrost()
    cfg.MODEL.MOTION_PRIOR.NAME, cfg.MODEL.MOTION_PRIOR.WEIGHT = prior, weight
    cfg.MODEL.IFR.TEST_TOPK = 2
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    k = cfg.MODEL.NUM_CLASSES + (1 if model.class_loss == "ce" else 0)
    c = (-0.2 + (0.04 + 8 * 0.99) ** 0.5) / 4  # unit vectors (c, c + 0.1), (c + 0.1, c)
    embeds = [[[1.0, 0.0], [0.0, 1.0]]] * 2 + [[[c, c + 0.1], [c + 0.1, c]]]
    calls = []

    def decode(images, num_frames, **_):
        t = len(calls)
        calls.append(t)
        masks = torch.full((1, 2, 1, 16, 16), -10.0)
        masks[0, 0, 0, 2:7, 1 + 3 * t : 5 + 3 * t] = 10.0  # A: cols 1-4, 4-7, 7-10
        masks[0, 1, 0, 9:14, 11 - 3 * t : 15 - 3 * t] = 10.0  # B: cols 11-14, 8-11, 5-8
        logits = torch.full((1, 2, k), -10.0)
        logits[0, :, 0] = 10.0
        return {"pred_logits": logits, "pred_masks": masks, "pred_embeds": torch.tensor([embeds[t]])}

    model.decode = decode
    video = {"image": [torch.zeros(3, 64, 64, dtype=torch.uint8)] * 3, "height": 64, "width": 64, "video_id": 0}
    with torch.no_grad():
        out = model([video])[0]["video_instances"]
    from vidseg.structures.masks import decode_mask

    return sorted([int(decode_mask(m).nonzero()[0].mean() >= 32) for m in track] for track in out.masks)


def test_ifr_frame_mode_motion_term_flips_a_query_assignment():
    """Catches a motion term that never reaches the assignment: config -> prior + λ -> QueryMatchingTracker."""
    kept = [[0, 0, 0], [1, 1, 1]]
    swapped = [[0, 0, 1], [1, 1, 0]]
    assert _scripted_ifr("none", 0.5) == swapped  # embeddings alone: identity switch at frame 2
    # linear predicts each mask exactly (IoU 1): 2 · 0.5 · 1 = 1.0 > 0.2 of embedding preference
    assert _scripted_ifr("linear", 0.5) == kept
    # λ is applied: at 0.05 the same exact prediction is worth 0.1 < 0.2
    assert _scripted_ifr("linear", 0.05) == swapped
    # copy_last overlaps the right query with IoU 1/7 only: 2 · 0.5 · 1/7 ≈ 0.14 < 0.2
    assert _scripted_ifr("copy_last", 0.5) == swapped


def test_benchmark_counts_changed_links_not_id_numbers():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from instmove_hosts import relinked_frames

    ref = [[1, 2], [1, 2], [1, 2, 3], [3, 1]]
    renumbered = [[5, 7], [5, 7], [5, 7, 9], [9, 5]]  # same links, other ids
    assert relinked_frames(renumbered, ref) == 0
    swapped = [[1, 2], [2, 1], [2, 1, 3], [3, 2]]  # frame 1: the two tracks exchange candidates
    assert relinked_frames(swapped, ref) == 1


def test_benchmark_report_pairs_each_prior_at_its_selected_lambda():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from instmove_hosts_report import paired, table

    def row(ap, idf1, ids, w):
        c = {"IDF1": idf1, "MOTA": 0.0, "IDs": ids}
        return {"AP": ap, "IDF1": idf1, "IDs": ids, "weight": w, "host_iterations": 5, "relinked_frames": 0,
                "videos_differ": 0, "videos": 2, "prior_ms": 1.0, "host_ms": 2.0,
                "consistency_by_score_threshold": {"0.5": c, "0.3": c}}

    res = {"select": {"h": {"none": 0.0, "copy_last": 1.0, "linear": 2.0, "instmove": 4.0}}}
    vals = {"none": [(0.10, 0.50, 9), (0.20, 0.60, 7)], "copy_last": [(0.10, 0.50, 9), (0.20, 0.60, 7)],
            "linear": [(0.30, 0.55, 5), (0.10, 0.70, 6)], "instmove": [(0.35, 0.60, 4), (0.25, 0.72, 5)]}
    for p, per_seed in vals.items():
        w = res["select"]["h"][p]
        for s, v in zip((0, 1), per_seed):
            res[f"h/{p}/{s}/w{w:g}"] = row(*v, w)
    res["h/linear/0/w1"] = row(0.9, 0.9, 0, 1.0)  # a λ not selected: must not be read
    text, holds = paired(res, ["h"], [0, 1])
    # vs linear: AP +5 and +15 -> +10.0 ± 7.1 (2/2); IDs -1, -1 -> -1.0 ± 0.0 (2/2)
    assert "| h | linear | +10.0 ± 7.1 (2/2) | +3.5 ± 2.1 (2/2) | -1.0 ± 0.0 (2/2) |" in text
    assert holds == {"h": True}
    res["h/instmove/1/w4"] = row(0.25, 0.72, 9, 4.0)  # mean switches 6.5 vs linear 5.5: claim fails
    assert paired(res, ["h"], [0, 1])[1] == {"h": False}
    assert "| h (5) | linear | 2 | 30.0 / 10.0 (**20.0**) |" in table(res, ["h"], [0, 1])


def test_benchmark_record_replaces_only_its_own_section(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from instmove_hosts_report import SECTION, record

    md = tmp_path / "R.md"
    same = SECTION + ", same-looking movers"
    md.write_text(f"# R\n\n{SECTION}\n\nold varied\n\n{same}\n\nold same\n\n## Next\n\nkeep\n")
    record(md, "cmd", {"linear": 0.5}, "T1", "D1", "S1", "N1")
    body = md.read_text()
    assert "old varied" not in body and "T1" in body and "old same" in body and "keep" in body
    record(md, "cmd", {"linear": 0.5}, "T2", "D2", "S2", "N2", same)
    body = md.read_text()
    assert "old same" not in body and "T1" in body and "T2" in body and body.index("T2") < body.index("## Next")
    assert "S1.\n\n## InstMove" in body and "S2.\n\n## Next" in body  # sections stay separated by a blank line
