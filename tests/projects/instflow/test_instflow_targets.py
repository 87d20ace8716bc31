"""method spec §9 test 1: target generation, against independently computed values."""
import math

import numpy as np
import pytest
import torch

from projects.instflow.targets import TargetSettings, pair_targets


def _rect(h, w, y0, y1, x0, x1):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def _disk(h, w, cy, cx, r):
    ys, xs = np.mgrid[:h, :w]
    return torch.from_numpy((ys - cy) ** 2 + (xs - cx) ** 2 <= r * r)


@pytest.fixture()
def pair():
    h, w = 64, 80
    # object 0: big rect, object 1: small disk (moves), object 2: only in the target
    mt = torch.stack([_rect(h, w, 5, 45, 4, 44), _disk(h, w, 50, 60, 5), _rect(h, w, 52, 60, 5, 15)])
    mr = torch.stack([_rect(h, w, 9, 49, 10, 50), _disk(h, w, 40, 66, 5), torch.zeros(h, w, dtype=torch.bool)])
    return mt, mr, torch.tensor([0, 1, 2])


def _bary(m):
    ys, xs = np.nonzero(m.numpy())
    return np.array([ys.mean(), xs.mean()])


def test_center_heatmap_peak_and_gaussian(pair):
    mt, mr, cls = pair
    t = pair_targets(mt[:1], mr[:1], cls[:1])
    c = _bary(mt[0])
    cy, cx = np.round(c).astype(int)
    assert t["center"][cy, cx] == 1.0 and t["center"].max() == 1.0
    for dy, dx in [(3, 0), (0, 7), (5, 5), (-10, 4)]:
        d2 = dy * dy + dx * dx
        assert t["center"][cy + dy, cx + dx].item() == pytest.approx(math.exp(-d2 / (2 * 64)), abs=1e-6)


def test_intra_and_inter_offsets_point_at_centers(pair):
    mt, mr, cls = pair
    t = pair_targets(mt, mr, cls)
    ys, xs = np.mgrid[:64, :80]
    p = np.stack([ys, xs]).astype(np.float64)
    for k in range(3):
        on = mt[k].numpy()
        np.testing.assert_allclose((p + t["off_t"].numpy())[:, on].T, np.tile(_bary(mt[k]), (on.sum(), 1)), atol=1e-4)
    for k in range(2):  # visible in both frames
        on = mt[k].numpy()
        np.testing.assert_allclose((p + t["off_r"].numpy())[:, on].T, np.tile(_bary(mr[k]), (on.sum(), 1)), atol=1e-4)
        resid = (t["off_r"] - t["off_t"]).numpy()[:, on].T
        np.testing.assert_allclose(resid, np.tile(_bary(mr[k]) - _bary(mt[k]), (on.sum(), 1)), atol=1e-4)
    assert (t["off_r_w"][mt[2]] == 0).all() and (t["off_r_w"][mt[0]] == 1).all()


def test_weights_small_instances_and_background(pair):
    mt, mr, cls = pair
    t = pair_targets(mt, mr, cls)
    bg = ~mt.any(0)
    assert (t["center_w"][bg] == 0).all() and (t["off_w"][bg] == 0).all() and (t["off_r_w"][bg] == 0).all()
    assert (t["center_w"][mt[0]] == 1).all()  # area 1600 >= 1024
    assert (t["center_w"][mt[1]] == 3).all() and (t["off_w"][mt[2]] == 3).all()  # small
    assert (t["sem"][bg] == 0).all() and (t["sem"][mt[1]] == 2).all()
    flags = pair_targets(mt, mr, cls, TargetSettings(center_on_background=True, offset_on_background=True))
    for key in ("center_w", "off_w", "off_r_w"):
        assert (flags[key][bg] == 1).all()
    assert (flags["off_t"][:, bg] == 0).all() and (flags["center"][bg] <= 1).all()


def test_shared_flip_negates_flow_x(pair):
    mt, mr, cls = pair
    a = pair_targets(mt, mr, cls)
    b = pair_targets(mt.flip(-1), mr.flip(-1), cls)
    for k in range(2):
        on = mt[k]
        fa = (a["off_r"] - a["off_t"])[:, on].mean(1)
        fb = (b["off_r"] - b["off_t"])[:, on.flip(-1)].mean(1)
        assert fb[0].item() == pytest.approx(fa[0].item(), abs=1e-4)
        assert fb[1].item() == pytest.approx(-fa[1].item(), abs=1e-4)
        assert abs(fa[1].item()) > 1


def test_overlap_goes_to_smaller_instance():
    big, small = _rect(32, 32, 0, 20, 0, 20), _rect(32, 32, 10, 16, 10, 16)
    for order in ([big, small], [small, big]):
        t = pair_targets(torch.stack(order), torch.stack(order), torch.tensor([0, 1] if order[0] is big else [1, 0]))
        assert (t["sem"][10:16, 10:16] == 2).all()  # class 1 (the small one) + 1
        c_small = _bary(small)
        np.testing.assert_allclose(t["off_t"][:, 12, 12].numpy(), c_small - [12, 12], atol=1e-4)


def test_empty_frame():
    t = pair_targets(torch.zeros(0, 16, 16, dtype=torch.bool), torch.zeros(0, 16, 16, dtype=torch.bool),
                     torch.zeros(0, dtype=torch.long))
    assert t["center"].sum() == 0 and t["center_w"].sum() == 0 and (t["sem"] == 0).all()
