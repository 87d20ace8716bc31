"""InstMove README: the MinVIS-style plug-in schedule (window lengths, top-k tracks) and the
association (embedding cost flipped by the motion cost), through vidseg's ``QueryMatchingTracker``."""
import numpy as np
import torch

from projects.instmove.model import InstMoveNet
from projects.instmove.prior import InstMovePrior
from vidseg.structures.masks import decode_mask
from vidseg.tracking import FrameQueries, QueryMatchingTracker, assign
from vidseg.tracking.motion import MotionPrior

from instmove_testutils import reduced_cfg


class RecordingPrior(MotionPrior):
    """Predicts a fixed mask per track id order and records what it is asked."""

    history = 4

    def __init__(self, masks):
        self.masks, self.calls = masks, []

    def predict(self, histories, target_frame):
        self.calls.append((target_frame, [len(h) for h in histories]))
        return [self.masks[i] if i < len(self.masks) else None for i in range(len(histories))]


def _frame(n, probs, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = torch.full((n, h, w), -5.0)
    for i in range(n):
        masks[i, :, 3 * i : 3 * i + 2] = 5.0
    return FrameQueries(probs=probs, masks=masks, embeds=torch.randn(n, 8, generator=g))


def test_schedule_windows_and_topk():
    torch.manual_seed(0)
    cfg = reduced_cfg()
    cfg.MODEL.MOTION_PRIOR.NAME = "instmove"
    prior = InstMovePrior(cfg, net=InstMoveNet(cfg))
    probs = torch.tensor([[0.1, 0.2], [0.9, 0.05], [0.3, 0.3], [0.05, 0.8], [0.2, 0.1]])  # top-2: tracks 1 and 3
    tracker = QueryMatchingTracker(motion_prior=prior, motion_topk=2)
    for t in range(7):
        tracker.update(t, _frame(5, probs, seed=0))  # same embeddings every frame: identity assignment
    # frames 0-1: no call; 2-3: windows of 2 masks; >= 4: 4 masks; one batched call per frame (same window)
    assert prior.calls == [2, 2, 4, 4, 4]
    assert tracker.predicted_tracks[:2] == [[], []]
    assert all(sorted(p) == [1, 3] for p in tracker.predicted_tracks[2:])
    out = tracker.finalize()
    assert len(out.track_ids) == 10 and out.image_size == (16, 16)


def _association(motion_weight):
    # tracks A (0), B (1); unit query embeddings d1 = (c, s), d2 = (s, c) with s - c = 0.1: the embeddings prefer
    # the wrong pairing by exactly 0.1 in cosine (cos(A,d2) - cos(A,d1) = 0.1, symmetric for B)
    e_a, e_b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    c = (-0.2 + np.sqrt(0.04 + 8 * 0.99)) / 4
    d1, d2 = torch.tensor([c, c + 0.1]), torch.tensor([c + 0.1, c])
    h = w = 20
    m1 = np.zeros((h, w), bool)
    m1[2:10, 2:12] = True  # d1's mask; A's motion mask overlaps it with IoU 0.8
    m2 = np.zeros((h, w), bool)
    m2[12:20, 8:18] = True
    pred_a = np.zeros((h, w), bool)
    pred_a[2:10, 2:10] = True  # IoU(pred_a, m1) = 64/80 = 0.8, IoU(pred_a, m2) = 0
    pred_b = np.zeros((h, w), bool)
    pred_b[12:20, 8:16] = True
    prior = RecordingPrior([pred_a, pred_b])
    tracker = QueryMatchingTracker(motion_prior=prior, motion_weight=motion_weight, motion_topk=2)
    probs = torch.tensor([[0.9], [0.8]])
    first = np.stack([m1, m2]).astype(np.float32) * 10 - 5
    tracker.update(0, FrameQueries(probs, torch.from_numpy(first), torch.stack([e_a, e_b])))
    masks = torch.from_numpy(np.stack([m1, m2]).astype(np.float32) * 10 - 5)
    return tracker.update(1, FrameQueries(probs, masks, torch.stack([d1, d2])))  # ids per query (d1, d2)


def test_association_motion_flips_the_embedding_preference():
    c = (-0.2 + np.sqrt(0.04 + 8 * 0.99)) / 4
    assert abs(c * c + (c + 0.1) ** 2 - 1) < 1e-9  # unit vectors
    assert _association(0.0) == [2, 1]  # motion off: d1 -> B, d2 -> A (wrong)
    assert _association(0.5) == [1, 2]  # motion on (official weight 0.5): d1 -> A, d2 -> B


def test_constant_row_does_not_change_the_assignment():
    rng = np.random.default_rng(0)
    cost = rng.random((5, 5))
    base = assign(cost)
    shifted = cost.copy()
    shifted[2] += 0.7  # a track without a motion prediction
    assert assign(shifted) == base


def test_prior_history_is_bounded_and_decodes_at_host_resolution():
    torch.manual_seed(0)
    cfg = reduced_cfg()
    prior = InstMovePrior(cfg, net=InstMoveNet(cfg))
    assert prior.history == max(cfg.MODEL.MOTION_PRIOR.HISTORY, 4)
    from vidseg.tracking.motion import TrackHistory
    from vidseg.structures.masks import encode_mask

    h = TrackHistory(prior.history)
    for t in range(50):  # long video: the history stays bounded
        m = np.zeros((12, 30), np.uint8)
        m[2:8, t % 20 : t % 20 + 6] = 1
        h.append(t, encode_mask(m))
    assert len(h) == prior.history
    (pred,) = prior.predict([h], 50)
    assert pred.shape == (12, 30) and decode_mask(encode_mask(pred.astype(np.uint8))).shape == (12, 30)
