"""method spec §9 test 6: instance-flow assembly vs the mask-IoU tracker on oracle masks and noisy oracle
flows (pure numpy, no network): crossings, occlusion gaps and the reference set (paper Table III mechanism)."""
import numpy as np
import pytest

from projects.instflow.tracker import FlowDetections, InstanceFlowTracker
from vidseg.evaluation.ytvis_ap import evaluate_video_ap
from vidseg.structures.masks import decode_mask, encode_mask, to_json_rle
from vidseg.tracking import MaskIoUTracker

H = W = 64


def _rect(y0, x0, size=10):
    m = np.zeros((H, W), dtype=bool)
    m[max(y0, 0):max(y0 + size, 0), max(x0, 0):max(x0 + size, 0)] = True
    return m


def _video(boxes, present, seed):
    """boxes[k](t) -> (y0, x0); later objects drawn on top. Returns visible masks [t][k] (None if absent) and per
    frame FlowDetections with oracle flows (true barycenter displacement + N(0, 2 px)) to the tracker's refs."""
    rng = np.random.default_rng(seed)
    T = len(present)
    vis = []
    for t in range(T):
        full = [_rect(*boxes[k](t)) if k in present[t] else None for k in range(len(boxes))]
        frame = []
        for k, m in enumerate(full):
            if m is None:
                frame.append(None)
                continue
            v = m.copy()
            for j in range(k + 1, len(full)):
                if full[j] is not None:
                    v &= ~full[j]
            frame.append(v)
        vis.append(frame)

    def bary(t, k):
        m = vis[t][k] if vis[t][k] is not None else _rect(*boxes[k](t))
        return np.argwhere(m).mean(0)

    def frames(tracker_refs):
        out = []
        for t in range(T):
            ks = [k for k in range(len(boxes)) if vis[t][k] is not None]
            ks = list(rng.permutation(ks))
            centers = np.array([bary(t, k) for k in ks]).reshape(-1, 2)
            warped = {r: np.array([bary(r, k) - bary(t, k) + rng.normal(0, 2, 2) for k in ks]).reshape(-1, 2)
                      + centers for r in tracker_refs(t)}
            masks = np.array([vis[t][k] for k in ks]).reshape(-1, H, W)
            out.append((ks, FlowDetections(masks=masks, centers=centers, warped=warped,
                                           class_mass=np.ones((len(ks), 1)) * masks.reshape(len(ks), -1).sum(1)[:, None])))
        return out

    return vis, frames


def _run(tracker, dets):
    ids = [tracker.update(t, d) for t, (_, d) in enumerate(dets)] if isinstance(tracker, InstanceFlowTracker) else \
        [tracker.update(t, d.to_frame_detections()) for t, (_, d) in enumerate(dets)]
    return ids, tracker.finalize()


def _switches(dets, ids):
    """ID switches per GT object (changes of the id it is given between consecutive appearances)."""
    last, n = {}, 0
    for (ks, _), frame_ids in zip(dets, ids):
        for k, i in zip(ks, frame_ids):
            if k in last and last[k] != i:
                n += 1
            last[k] = i
    return n


def _ap(vis, vi):
    T = len(vis)
    gt = [{"video_id": 0, "category_id": 0, "segmentations": [to_json_rle(encode_mask(vis[t][k])) if vis[t][k]
                                                              is not None else None for t in range(T)]}
          for k in range(len(vis[0]))]
    dt = [{"video_id": 0, "category_id": 0, "score": s, "segmentations": m} for s, m in zip(vi.scores, vi.masks)]
    return evaluate_video_ap(gt, dt, video_ids=[0], category_ids=[0]).metrics["AP"]


def _crossing(seed):
    boxes = [lambda t: (24, 6 * t), lambda t: (26, 54 - 6 * t)]
    return _video(boxes, [{0, 1}] * 10, seed)


@pytest.mark.parametrize("seed", range(5))
def test_crossing_flow_tracker_keeps_ids_iou_tracker_swaps(seed):
    vis, frames = _crossing(seed)
    assert vis[4][0].sum() == 68 and vis[5][0].sum() == 68
    flow = InstanceFlowTracker(match_threshold=0.1)
    dets = frames(flow.reference_frames)
    ids, vi = _run(flow, dets)
    assert _switches(dets, ids) == 0 and _ap(vis, vi) == pytest.approx(1.0)
    assert all(len(set(f)) == len(f) for f in ids)
    iou = MaskIoUTracker(score_init=-1.0, score_continue=-2.0, iou_min=0.1, frames_skip_max=1, bidirectional=False)
    ids_iou, vi_iou = _run(iou, dets)
    assert _switches(dets, ids_iou) >= 1 and _ap(vis, vi_iou) < 0.5


def _gap(missing, seed=0):
    boxes = [lambda t: (15, 5 + 3 * t), lambda t: (40, 45 - 2 * t)]
    return _video(boxes, [{1} if t in missing else {0, 1} for t in range(12)], seed)


@pytest.mark.parametrize("missing, first, adjacent, keeps", [
    ({4, 5}, True, 3, True), ({4, 5}, False, 1, False),
    (set(range(2, 7)), True, 3, True), (set(range(2, 7)), False, 3, False),
])
def test_occlusion_gap_and_reference_set(missing, first, adjacent, keeps):
    _, frames = _gap(missing)
    tracker = InstanceFlowTracker(use_first_frame=first, num_adjacent=adjacent)
    dets = frames(tracker.reference_frames)
    ids, vi = _run(tracker, dets)
    a_ids = {i for (ks, _), f in zip(dets, ids) for k, i in zip(ks, f) if k == 0}
    b_ids = {i for (ks, _), f in zip(dets, ids) for k, i in zip(ks, f) if k == 1}
    assert len(b_ids) == 1 and (len(a_ids) == 1) == keeps and not a_ids & b_ids


def test_far_new_object_gets_new_id_and_memory_is_bounded():
    boxes = [lambda t: (5, 5 + t), lambda t: (45, 45)]
    _, frames = _video(boxes, [{0} if t < 5 else {0, 1} for t in range(30)], 0)
    tracker = InstanceFlowTracker()
    dets = frames(tracker.reference_frames)
    sizes = []
    for t, (_, d) in enumerate(dets):
        tracker.update(t, d)
        sizes.append(len(tracker._refs))
    assert max(sizes) == 4
    vi = tracker.finalize()
    assert len(vi) == 2 and vi.masks[1][4] is None and decode_mask(vi.masks[1][5]).sum() == 100
