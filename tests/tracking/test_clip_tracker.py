"""The clip tracker (paper 003 §3.3): window-by-window query linking with bounded memory."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidseg.structures.masks import MaskPaster, decode_mask
from vidseg.tracking import Tracker
from vidseg.tracking.clip import ClipTrackAccumulator, WindowPredictions


def window_starts(length: int, window: int, stride: int) -> list[int]:
    starts = list(range(0, max(length - window, 0) + 1, stride))
    return starts if starts[-1] == max(length - window, 0) else starts + [length - window]


def test_clip_tracker_implements_the_tracker_interface():
    assert issubclass(ClipTrackAccumulator, Tracker)


def _objects(length: int, h: int = 16, w: int = 16) -> torch.Tensor:
    """3 objects moving across a 16×16 video: (3, T, h, w) binary."""
    gt = torch.zeros(3, length, h, w)
    for f in range(length):
        gt[0, f, 1:5, f % 10 : f % 10 + 5] = 1
        gt[1, f, 6:10, 2:7] = 1
        gt[2, f, 11:15, (10 - f % 10) : (15 - f % 10)] = 1
    return gt


@pytest.mark.parametrize("window, stride", [(4, 1), (4, 2), (3, 3)])
def test_clip_tracker_links_permuted_window_queries_into_one_track_per_object(window, stride):
    """§9 item 18: each window assigns the objects to a different random query; one track per object results."""
    length, n, k = 11, 6, 3
    gt = _objects(length)
    g = torch.Generator().manual_seed(window * 10 + stride)
    paster = MaskPaster(padded_size=(16, 16), valid_size=(16, 16), out_size=(16, 16))
    acc = ClipTrackAccumulator(length=length, match_threshold=0.3, keep_score=0.5, paster=paster)
    embeds_of_object = torch.eye(8)[:3] * 5
    starts = window_starts(length, window, stride)
    for i, s in enumerate(starts):
        e = min(s + window, length)
        perm = torch.randperm(n, generator=g)  # object j -> query perm[j]; other queries are background
        probs = torch.full((n, k), 0.01)
        masks = torch.full((n, e - s, 16, 16), -10.0)
        embeds = torch.randn(n, 8, generator=g)
        for j in range(3):
            probs[perm[j], j] = 0.9
            masks[perm[j]] = 20 * gt[j, s:e] - 10
            embeds[perm[j]] = embeds_of_object[j] + 0.1 * torch.randn(8, generator=g)
        ids = acc.update(s, WindowPredictions(probs, masks, embeds))
        assert sorted(i for i in ids if i) == [1, 2, 3]  # the same three track ids in every window
        acc.finish_frames(starts[i + 1] if i + 1 < len(starts) else length)
        open_frames = {f for tr in acc.tracks for f in tr.logit_sum}
        assert len(open_frames) <= window  # memory bounded by one window
    assert len(acc.tracks) == 3
    acc.topk = 3
    vi = acc.finalize()
    assert sorted(vi.labels) == [0, 1, 2] and vi.scores == pytest.approx([0.9] * 3)
    for i, label in enumerate(vi.labels):
        for f in range(length):
            np.testing.assert_array_equal(decode_mask(vi.masks[i][f]), gt[label, f].numpy().astype(np.uint8))


def test_clip_tracker_starts_new_tracks_for_unmatched_and_drops_low_scores():
    paster = MaskPaster(padded_size=(8, 8), valid_size=(8, 8), out_size=(8, 8))
    acc = ClipTrackAccumulator(length=4, match_threshold=0.5, keep_score=0.5, paster=paster)
    a = torch.full((2, 2, 8, 8), -10.0)
    a[0, :, :4] = 10
    assert acc.update(0, WindowPredictions(torch.tensor([[0.9, 0.0], [0.1, 0.2]]), a, torch.randn(2, 4))) == [1, 0]
    assert len(acc.tracks) == 1
    b = torch.full((1, 2, 8, 8), -10.0)
    b[0, :, 4:] = 10  # no overlap with the track on the shared frame 1: a new track
    assert acc.update(1, WindowPredictions(torch.tensor([[0.8, 0.1]]), b, torch.randn(1, 4))) == [2]
    assert len(acc.tracks) == 2
    with pytest.raises(ValueError, match="finished"):
        acc.finish_frames(2)
        acc.update(0, WindowPredictions(torch.tensor([[0.8, 0.1]]), b, torch.randn(1, 4)))
    vi = acc.finalize()
    top = int(np.argmax(vi.scores))  # the first track (0.9): windows covered frames 0 and 1 only
    assert vi.masks[top][0] is not None and vi.masks[top][2] is None and vi.masks[top][3] is None
    assert vi.frame_idx == [0, 1, 2, 3] and len(acc.tracks) == 0  # finalize resets the tracker


def test_clip_tracker_keeps_at_most_topk_queries_per_window():
    """A window keeps its ``topk`` best queries (by class probability) above ``keep_score``: at most topk masks per
    frame are pasted and stored, as in whole-video inference."""
    paster = MaskPaster(padded_size=(8, 8), valid_size=(8, 8), out_size=(8, 8))
    acc = ClipTrackAccumulator(length=2, match_threshold=0.5, keep_score=0.3, paster=paster, topk=2)
    probs = torch.tensor([[0.4, 0.1], [0.2, 0.9], [0.35, 0.0], [0.1, 0.2], [0.6, 0.5]])
    ids = acc.update(0, WindowPredictions(probs, torch.randn(5, 2, 8, 8), torch.randn(5, 4)))
    assert [i > 0 for i in ids] == [False, True, False, False, True]  # 0.9 and 0.6 kept; 0.4 and 0.35 over topk
    assert len(acc.tracks) == 2
    acc.topk = 5
    ids = acc.update(0, WindowPredictions(probs[:, :1], torch.randn(5, 2, 8, 8), torch.randn(5, 4)))
    assert sum(i > 0 for i in ids) == 3  # 0.6, 0.4, 0.35 reach keep_score 0.3; 0.2 and 0.1 do not
