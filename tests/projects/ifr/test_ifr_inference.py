"""Post-processing: top-k, mask pasting, sliding windows and the per-clip tracker (ifr.md §5, §9 items 15, 18)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from projects.ifr.inference import (
    ClipTrackAccumulator,
    MaskPaster,
    class_probabilities,
    topk_pairs,
    video_topk_instances,
    window_starts,
)
from vidseg.structures.masks import decode_mask

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_window_starts():
    assert window_starts(3, 5, 1) == [0]
    assert window_starts(10, 5, 1) == [0, 1, 2, 3, 4, 5]
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]  # last window ends at the video end
    assert window_starts(12, 4, 4) == [0, 4, 8]
    with pytest.raises(ValueError, match="TEST_WINDOW"):
        window_starts(5, 0, 1)


def test_topk_pairs_and_class_probabilities():
    probs = torch.tensor([[0.1, 0.9], [0.8, 0.3], [0.2, 0.7]])
    scores, labels, rows = topk_pairs(probs, 3)
    assert scores.tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert labels.tolist() == [1, 0, 1] and rows.tolist() == [0, 1, 2]
    assert len(topk_pairs(probs, 10)[0]) == 6  # at most N·K
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    torch.testing.assert_close(class_probabilities(logits, "ce"), logits.softmax(-1)[:, :2])
    torch.testing.assert_close(class_probabilities(logits, "focal"), logits.sigmoid())


def test_mask_paster_crops_the_padding_and_resizes():
    # padded input 32×32 holding a 24×32 frame (8 rows of padding); original video 48×64
    paster = MaskPaster(padded_size=(32, 32), valid_size=(24, 32), out_size=(48, 64))
    logits = torch.full((1, 8, 8), -10.0)
    logits[0, :3, :4] = 10.0  # top-left: rows 0..11, cols 0..15 of the padded input
    logits[0, 6:, :] = 10.0  # padding rows only: must disappear
    out = paster(logits)
    assert out.shape == (1, 48, 64) and out.dtype == bool
    ys, xs = np.nonzero(out[0])
    assert ys.max() < 26 and xs.max() < 34 and ys.min() == 0 and xs.min() == 0  # 12/24 * 48 = 24, 16/32 * 64 = 32
    assert out[0, :20, :28].all() and not out[0, 30:].any()
    assert paster(torch.zeros(0, 8, 8)).shape == (0, 48, 64)


def test_video_topk_instances_decode_to_thresholded_masks():
    torch.manual_seed(0)
    n, k, t = 4, 3, 3
    logits = torch.randn(n, k)
    masks = torch.randn(n, t, 8, 8) * 4
    paster = MaskPaster(padded_size=(32, 32), valid_size=(32, 32), out_size=(20, 30))
    vi = video_topk_instances(logits, masks, class_loss="focal", topk=5, paster=paster, frame_idx=[4, 5, 6])
    scores, labels, queries = topk_pairs(logits.sigmoid(), 5)
    assert len(vi) == 5 and vi.frame_idx == [4, 5, 6] and vi.labels == labels.tolist()
    np.testing.assert_allclose(vi.scores, scores.numpy(), rtol=1e-6)
    for i, q in enumerate(queries.tolist()):
        expected = paster(masks[q])  # (T, H, W)
        for f in range(t):
            np.testing.assert_array_equal(decode_mask(vi.masks[i][f]).astype(bool), expected[f])


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
        assigned = acc.add_window(s, probs, masks, embeds)
        assert len(assigned) == 3
        acc.finish_frames(starts[i + 1] if i + 1 < len(starts) else length)
        open_frames = {f for tr in acc.tracks for f in tr.logit_sum}
        assert len(open_frames) <= window  # memory bounded by one window
    assert len(acc.tracks) == 3
    vi = acc.result(topk=3, frame_idx=list(range(length)))
    assert sorted(vi.labels) == [0, 1, 2] and vi.scores == pytest.approx([0.9] * 3)
    for i, label in enumerate(vi.labels):
        for f in range(length):
            np.testing.assert_array_equal(decode_mask(vi.masks[i][f]), gt[label, f].numpy().astype(np.uint8))


def test_clip_tracker_starts_new_tracks_for_unmatched_and_drops_low_scores():
    paster = MaskPaster(padded_size=(8, 8), valid_size=(8, 8), out_size=(8, 8))
    acc = ClipTrackAccumulator(length=4, match_threshold=0.5, keep_score=0.5, paster=paster)
    a = torch.full((2, 2, 8, 8), -10.0)
    a[0, :, :4] = 10
    acc.add_window(0, torch.tensor([[0.9, 0.0], [0.1, 0.2]]), a, torch.randn(2, 4))  # query 1 below keep_score
    assert len(acc.tracks) == 1
    b = torch.full((1, 2, 8, 8), -10.0)
    b[0, :, 4:] = 10  # no overlap with the track on the shared frame 1: a new track
    acc.add_window(1, torch.tensor([[0.8, 0.1]]), b, torch.randn(1, 4))
    assert len(acc.tracks) == 2
    vi = acc.result(topk=10, frame_idx=[0, 1, 2, 3])
    top = int(np.argmax(vi.scores))  # the first track (0.9): windows covered frames 0 and 1 only
    assert vi.masks[top][0] is not None and vi.masks[top][2] is None and vi.masks[top][3] is None
    with pytest.raises(ValueError, match="finished"):
        acc.add_window(0, torch.tensor([[0.8, 0.1]]), b, torch.randn(1, 4))
