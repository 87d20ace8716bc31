"""Matching-based test-time augmentation (paper 003 §3.2): merging copies, permuted copies, one-size TTA."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ifr_testutils import as_video, build, make_clip
from projects.ifr.tta import TTASettings, merge_runs, resample_valid_region
from vidseg.modeling.matching import VideoHungarianMatcher
from vidseg.structures.masks import decode_mask

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
N, K, T = 6, 3, 2


def _run(seed=0):
    """A run whose N queries have distinct masks (one square each) and random class logits."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.full((N, T, 24, 24), -8.0)
    for q in range(N):
        y, x = 4 * (q // 3), 8 * (q % 3)
        masks[q, :, y:y + 8, x:x + 8] = 8.0
    return torch.randn(N, K, generator=g), masks + 0.5 * torch.randn(N, T, 24, 24, generator=g)


@pytest.mark.parametrize("class_loss", ["focal", "ce"])
def test_merging_copies_of_one_run_returns_it(class_loss):
    matcher = VideoHungarianMatcher(num_points=500, class_loss=class_loss)
    logits, masks = _run()
    if class_loss == "ce":
        logits = torch.cat([logits, torch.zeros(N, 1)], -1)
    probs, mask_probs = merge_runs([(logits, masks)] * 3, matcher, pivot=1)
    torch.testing.assert_close(probs, matcher.class_probs(logits))
    torch.testing.assert_close(mask_probs, masks.sigmoid())


@pytest.mark.parametrize("pivot", [0, 1])
def test_merging_a_query_permuted_copy_recovers_the_permutation(pivot):
    matcher = VideoHungarianMatcher(num_points=500, class_loss="focal")
    logits, masks = _run()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    runs = [(logits, masks), (logits[perm], masks[perm])]
    probs, mask_probs = merge_runs(runs, matcher, pivot=pivot)
    ref_logits, ref_masks = runs[pivot]
    torch.testing.assert_close(probs, ref_logits.sigmoid())
    torch.testing.assert_close(mask_probs, ref_masks.sigmoid())
    naive = (masks.sigmoid() + masks[perm].sigmoid()) / 2  # averaging by index would blur different objects
    assert (naive - ref_masks.sigmoid()).abs().max() > 0.4


def test_average_of_two_different_runs_and_the_global_rng_is_untouched():
    matcher = VideoHungarianMatcher(num_points=500, class_loss="focal")
    (la, ma), (lb, mb) = _run(0), _run(1)  # same squares, different logits: identity matching
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    probs, mask_probs = merge_runs([(la, ma), (lb, mb)], matcher, pivot=0, seed=5)
    assert torch.equal(torch.rand(1), before)
    torch.testing.assert_close(probs, (la.sigmoid() + lb.sigmoid()) / 2)
    torch.testing.assert_close(mask_probs, (ma.sigmoid() + mb.sigmoid()) / 2)


def test_resample_valid_region_samples_only_the_unpadded_input():
    """Logits over a padded 40×64 input (valid 36×50) whose value is the input x coordinate of each stride-4
    cell centre; resampled onto a 9×10 grid over the valid region, cell centres read their own x."""
    h, w = 10, 16  # 1/4 of the padded input
    x_centres = 4 * torch.arange(w, dtype=torch.float32) + 2
    masks = x_centres.expand(h, w)[None, None].repeat(2, 3, 1, 1)
    out = resample_valid_region(masks, padded_size=(40, 64), valid_size=(36, 50), grid=(9, 10))
    assert out.shape == (2, 3, 9, 10)
    expected = (torch.arange(10) + 0.5) * 5.0  # centres of 10 cells over 50 valid pixels
    torch.testing.assert_close(out[0, 0, 4], expected)
    torch.testing.assert_close(out[1, 2], out[0, 0])


def test_tta_with_one_size_and_no_flip_equals_plain_inference():
    video = as_video(make_clip(t=3))
    plain = build().eval()([video])[0]["video_instances"]
    tta = build("ifr.yaml", "MODEL.IFR.TTA.ENABLED", "True", "MODEL.IFR.TTA.MIN_SIZES", "(64,)").eval()
    one = tta([video])[0]["video_instances"]
    np.testing.assert_allclose(one.scores, plain.scores, rtol=0, atol=1e-5)
    assert one.labels == plain.labels
    for a, b in zip(one.masks, plain.masks):
        for ra, rb in zip(a, b):
            ma, mb = decode_mask(ra), decode_mask(rb)
            union = (ma | mb).sum()
            assert union == 0 or (ma & mb).sum() / union > 0.9  # two bilinear paths to the same masks


def test_multi_scale_flip_tta_runs_every_augmentation_and_is_deterministic(monkeypatch):
    model = build("ifr.yaml", "MODEL.IFR.TTA.ENABLED", "True", "MODEL.IFR.TTA.MIN_SIZES", "(48, 64, 96)",
                  "MODEL.IFR.TTA.FLIP", "True").eval()
    assert model.tta == TTASettings((48, 64, 96), 96, True, 0)
    sizes = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda images, t, **kw: sizes.append(tuple(images.shape[-2:]))
                        or decode(images, t, **kw))
    video = as_video(make_clip(t=3, h=64, w=80), height=64, width=80)
    a = model([video])[0]["video_instances"]
    # 48x60, 64x80 and 77x96 (longer side capped at INPUT.MAX_SIZE_TEST 96), each twice, padded to /32
    assert sorted(sizes) == [(64, 64), (64, 64), (64, 96), (64, 96), (96, 96), (96, 96)]
    b = model([video])[0]["video_instances"]
    assert len(a) == 10 and a.scores == b.scores and a.masks == b.masks
    assert all(len(m) == 3 and decode_mask(m[0]).shape == (64, 80) for m in a.masks)


def test_tta_needs_video_mode():
    with pytest.raises(ValueError, match="TTA"):
        build("ifr.yaml", "MODEL.IFR.TTA.ENABLED", "True", "MODEL.IFR.TEST_MODE", "clip")
