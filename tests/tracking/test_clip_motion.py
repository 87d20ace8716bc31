"""MotionClipTrackAccumulator: a motion prior term in clip matching (IFR clip mode, InstMove mode (a)).

Two objects move fast in opposite directions along a 1-D strip; windows of 2 frames do not overlap, so the clip
tracker links windows by query embeddings alone. The embeddings of the second and third windows mildly prefer the
swapped pairing (cosine 0.6 vs 0.5); the linear prior's prediction at the window start overlaps the right query.
"""
import numpy as np
import pytest
import torch

from vidseg.config import get_cfg
from vidseg.registry import MOTION_PRIOR_REGISTRY, TRACKER_REGISTRY
from vidseg.structures.masks import MaskPaster, decode_mask
from vidseg.tracking import ClipTrackAccumulator, MotionClipTrackAccumulator, WindowPredictions
from vidseg.tracking.motion import build_motion_prior

H, W, LENGTH, SPEED = 8, 64, 6, 5


def _mask(x0: int) -> torch.Tensor:
    m = torch.full((H, W), -5.0)
    m[2:6, x0 : x0 + 6] = 5.0
    return m


def _windows():
    """3 windows of 2 frames; object A starts at x=2 moving right, B at x=50 moving left. Query order is swapped in
    every window; embeddings after the first window resemble the *other* object slightly more."""
    e_a, e_b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    wrong_a = torch.tensor([0.5, 0.6])  # A's query: cos with B's embedding > with A's
    wrong_b = torch.tensor([0.6, 0.5])
    out = []
    for k, start in enumerate(range(0, LENGTH, 2)):
        a = torch.stack([_mask(2 + SPEED * t) for t in (start, start + 1)])
        b = torch.stack([_mask(50 - SPEED * t) for t in (start, start + 1)])
        ea, eb = (e_a, e_b) if k == 0 else (wrong_a, wrong_b)
        masks, embeds = (torch.stack([a, b]), torch.stack([ea, eb])) if k % 2 == 0 else \
            (torch.stack([b, a]), torch.stack([eb, ea]))
        out.append((start, WindowPredictions(torch.tensor([[0.9], [0.8]]), masks, embeds)))
    return out


def _run(tracker):
    ids = []
    for start, win in _windows():
        ids.append(tracker.update(start, win))
        tracker.finish_frames(start + 2)
    return ids, tracker.finalize()


def _kwargs():
    return dict(length=LENGTH, match_threshold=0.1, keep_score=0.5, topk=4,
                paster=MaskPaster(padded_size=(H, W), valid_size=(H, W), out_size=(H, W)))


def _prior(name: str):
    cfg = get_cfg()
    cfg.MODEL.MOTION_PRIOR.NAME = name
    return build_motion_prior(cfg)


def test_embeddings_alone_swap_and_the_linear_prior_fixes_it():
    plain_ids, _ = _run(ClipTrackAccumulator(**_kwargs()))
    # window 0: A (query 0) -> track 1; later windows: A is query 1 then query 0
    assert plain_ids[1] == [1, 2]  # swapped: B's query joined A's track
    tracker = TRACKER_REGISTRY.get("MotionClipTrackAccumulator")(motion_prior=_prior("linear"), motion_weight=0.5,
                                                                 **_kwargs())
    ids, vi = _run(tracker)
    assert ids == [[1, 2], [2, 1], [1, 2]]  # A always in track 1, B in track 2
    assert tracker.predicted_tracks == []  # reset by finalize
    # track 1's mask at frame 5 is A's (x = 27..32)
    # the output track holding A's first-frame mask (x = 2..7) holds A's mask at frame 5 too (x = 27..32)
    (row,) = [r for r in vi.masks if decode_mask(r[0]).astype(bool)[3, 2:8].all()]
    m = decode_mask(row[5]).astype(bool)
    assert m[3, 27:33].all() and not m[3, 40:].any()


def test_prior_none_or_zero_weight_equals_the_plain_clip_tracker():
    _, ref = _run(ClipTrackAccumulator(**_kwargs()))
    for tracker in (MotionClipTrackAccumulator(motion_prior=_prior("none"), **_kwargs()),
                    MotionClipTrackAccumulator(motion_prior=_prior("linear"), motion_weight=0.0, **_kwargs())):
        _, vi = _run(tracker)
        assert vi.masks == ref.masks and vi.scores == ref.scores and vi.labels == ref.labels


def test_histories_bounded_and_predictions_from_window_two_on():
    tracker = MotionClipTrackAccumulator(motion_prior=MOTION_PRIOR_REGISTRY.get("copy_last")(None), **_kwargs())
    for start, win in _windows():
        tracker.update(start, win)
        tracker.finish_frames(start + 2)
        assert all(len(h) <= tracker.prior.history for h in tracker.histories.values())
    assert tracker.predicted_tracks == [[0, 1], [0, 1]]  # windows 2 and 3 (none before any frame finished)


def test_unknown_prior_name_is_a_clear_error():
    with pytest.raises(ValueError, match="MODEL.MOTION_PRIOR.NAME"):
        _prior("nope")
