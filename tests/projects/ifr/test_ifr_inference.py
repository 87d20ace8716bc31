"""Post-processing: top-k, mask pasting, sliding windows (paper 003 §3.3)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from projects.ifr.inference import video_topk_instances, window_starts
from vidseg.modeling.matching import class_probabilities
from vidseg.structures.masks import MaskPaster, decode_mask
from vidseg.tracking.clip import topk_pairs

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
