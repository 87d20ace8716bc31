"""``MODEL.INSTMOVE.GAPS``: how the InstMove prior predicts for tracks whose history skips frames (a tracker's
unmatched frames) or whose target is several frames ahead. The network is replaced by a constant-velocity
stand-in so every filled frame and the final prediction can be written down by hand."""
import numpy as np
import pytest
import torch

from projects.instmove.model import InstMoveNet
from projects.instmove.prior import InstMovePrior
from vidseg.structures.masks import encode_mask
from vidseg.tracking.motion import TrackHistory, shift_mask

from instmove_testutils import reduced_cfg

H, W = 20, 60


def box(x: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[5:11, x : x + 6] = True
    return m


class VelocityPrior(InstMovePrior):
    """InstMovePrior whose one-step network is 'last mask shifted by the last difference of left edges'."""

    def __init__(self, gaps: str, max_roll: int = 10):
        cfg = reduced_cfg(GAPS=gaps, MAX_ROLL=max_roll)
        super().__init__(cfg, net=InstMoveNet(cfg))
        self.steps: list[list[int]] = []  # per network call: the window lengths of the batch

    def _step(self, windows):
        self.steps.append([len(w) for w in windows])
        out = []
        for w in windows:
            x1, x0 = (int(np.nonzero(m.any(0))[0][0]) for m in (w[-1], w[-2]))
            out.append(shift_mask(w[-1], 0, x1 - x0))
        return out


def history(frames_x: dict[int, int], maxlen: int = 4) -> TrackHistory:
    h = TrackHistory(maxlen)
    for f, x in frames_x.items():
        h.append(f, encode_mask(box(x).astype(np.uint8)))
    return h


def test_roll_fills_a_trailing_gap_and_predicts_the_frame_asked():
    prior = VelocityPrior("roll")
    (pred,) = prior.predict([history({0: 2, 1: 5})], target_frame=5)  # 3 px/frame, 4 frames ahead
    assert np.array_equal(pred, box(17))
    assert prior.steps == [[2], [2], [4], [4]]  # frames 2 and 3 filled from 2 masks, 4 from 3 -> 2, then 4 masks


def test_roll_fills_an_inner_gap_so_the_velocity_is_per_frame():
    prior = VelocityPrior("roll")
    # seen at 0, 1 (x 2, 5), missed 2-3, seen again at 4 at x 14: filled 2 (x 8), 3 (x 11) -> next is x 17
    (pred,) = prior.predict([history({0: 2, 1: 5, 4: 14})], target_frame=5)
    assert np.array_equal(pred, box(17))
    ignore = VelocityPrior("ignore")
    (raw,) = ignore.predict([history({0: 2, 1: 5, 4: 14})], target_frame=5)
    assert np.array_equal(raw, box(23))  # the window read as consecutive: one 9 px step, repeated


def test_roll_drops_masks_it_cannot_continue_and_gives_none_when_nothing_is_left():
    prior = VelocityPrior("roll")
    one_then_gap = history({0: 2, 3: 11})  # one mask before the gap: cannot be rolled -> restart at frame 3
    short = history({4: 4})  # a single mask: no prediction
    pair = history({3: 10, 4: 12})
    a, b, c = prior.predict([one_then_gap, short, pair], target_frame=5)
    assert a is None and b is None
    assert np.array_equal(c, box(14))
    assert prior.steps == [[2]]  # one batched call; the other tracks never reach the network


def test_roll_batches_tracks_and_respects_max_roll():
    prior = VelocityPrior("roll", max_roll=2)
    near, far = history({2: 1, 3: 3}), history({0: 2, 1: 4})
    a, b = prior.predict([near, far], target_frame=5)  # near: fill 4 then 5; far: 3 fills needed (> 2) -> None
    assert np.array_equal(a, box(7)) and b is None
    assert prior.steps[0] == [2, 2]  # both tracks in the first call


def test_default_is_the_literal_spec_reading():
    assert reduced_cfg().MODEL.INSTMOVE.GAPS == "ignore"


def test_gaps_key_is_checked():
    cfg = reduced_cfg(GAPS="extrapolate")
    with pytest.raises(ValueError, match="MODEL.INSTMOVE.GAPS"):
        InstMovePrior(cfg, net=InstMoveNet(cfg))


def test_real_network_rolls_with_consistent_shapes():
    torch.manual_seed(0)
    cfg = reduced_cfg(GAPS="roll")
    prior = InstMovePrior(cfg, net=InstMoveNet(cfg))
    h = history({0: 2, 1: 5, 4: 14})
    (pred,) = prior.predict([h], target_frame=6)
    assert pred.shape == (H, W) and pred.dtype == bool
    assert prior.calls == [2, 2, 4, 4]  # fills 2, 3, 5 (window of 2, 2 -> 4, 4 masks), then the target
