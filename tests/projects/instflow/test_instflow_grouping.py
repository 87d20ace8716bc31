"""method spec §9 tests 4-5: center NMS + grouping from GT-derived maps, and instance flow (paper Eq. 3)."""
import numpy as np
import pytest
import torch

from projects.instflow.inference import find_centers, group_pixels, instance_flow
from projects.instflow.targets import pair_targets


def _scene():
    h, w = 64, 72
    ys, xs = np.mgrid[:h, :w]
    masks = np.stack([
        (ys >= 5) & (ys < 25) & (xs >= 5) & (xs < 30),  # rectangle
        (ys - 45) ** 2 + (xs - 20) ** 2 <= 100,  # disk
        (ys >= 30) & (ys < 60) & (xs >= 40) & (xs - 40 <= (ys - 30)),  # triangle
    ])
    shift = np.array([[3, 2], [-4, 5], [2, -3]])
    ref = np.stack([np.roll(m, tuple(s), axis=(0, 1)) for m, s in zip(masks, shift)])
    return torch.from_numpy(masks), torch.from_numpy(ref)


def _group(t, threshold=0.1, kernel=7, top_k=200):
    fg = t["sem"] > 0
    centers, values = find_centers(t["center"], fg, threshold=threshold, kernel=kernel, top_k=top_k)
    ids, kept = group_pixels(centers, t["off_t"], fg)
    return centers[kept], ids


def test_gt_maps_reproduce_gt_masks_exactly():
    mt, mr = _scene()
    t = pair_targets(mt, mr, torch.tensor([0, 1, 2]))
    centers, ids = _group(t)
    assert ids.max() == 3
    for k in range(3):
        got = ids[mt[k]].unique()
        assert len(got) == 1 and got.item() > 0
        pred = ids == got
        assert torch.equal(pred, mt[k])  # IoU 1


def test_nms_threshold_background_and_topk():
    heat = torch.zeros(32, 32)
    heat[10, 10], heat[10, 12] = 0.9, 0.8  # closer than kernel/2: one center
    heat[25, 25] = 0.1  # at the threshold: dropped
    heat[5, 28] = 0.7  # on background: dropped
    fg = torch.ones(32, 32, dtype=torch.bool)
    fg[5, 28] = False
    c, v = find_centers(heat, fg, threshold=0.1, kernel=7, top_k=10)
    assert c.tolist() == [[10, 10]] and v.tolist() == pytest.approx([0.9])
    heat[20, 5], heat[28, 10] = 0.5, 0.6
    c, _ = find_centers(heat, fg, threshold=0.1, kernel=7, top_k=2)
    assert c.tolist() == [[10, 10], [28, 10]]


def test_centers_without_pixels_are_removed():
    fg = torch.zeros(16, 16, dtype=torch.bool)
    fg[2:6, 2:6] = True
    off = torch.zeros(2, 16, 16)
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    off[0], off[1] = 3 - ys, 3 - xs  # every vote at (3, 3)
    ids, kept = group_pixels(torch.tensor([[12, 12], [3, 3]]), off, fg)
    assert kept.tolist() == [1] and set(ids.unique().tolist()) == {0, 1} and (ids[fg] == 1).all()


@pytest.mark.parametrize("stride", [1, 4])
def test_flow_with_gt_offsets_is_the_center_displacement(stride):
    mt, mr = _scene()
    t = pair_targets(mt, mr, torch.tensor([0, 1, 2]))
    centers, ids = _group(t)
    warped = instance_flow(ids, 3, t["off_t"], t["off_r"], centers.double(), stride=stride)
    for m in range(3):
        k = [j for j in range(3) if mt[j][tuple(centers[m].tolist())]][0]
        true = np.argwhere(mr[k].numpy()).mean(0) - np.argwhere(mt[k].numpy()).mean(0)
        np.testing.assert_allclose(warped[m].numpy() - centers[m].numpy(), true, atol=1e-6)


def test_flow_noise_averages_out():
    mt, mr = _scene()
    t = pair_targets(mt, mr, torch.tensor([0, 1, 2]))
    centers, ids = _group(t)
    gen = torch.Generator().manual_seed(0)
    sigma = 2.0
    noisy = t["off_r"] + sigma * torch.randn(t["off_r"].shape, generator=gen)
    exact = instance_flow(ids, 3, t["off_t"], t["off_r"], centers.double(), stride=4)
    got = instance_flow(ids, 3, t["off_t"], noisy, centers.double(), stride=4)
    for m in range(3):
        n = int((ids[::4, ::4] == m + 1).sum())
        assert (got[m] - exact[m]).abs().max() < 4 * sigma / np.sqrt(n)


def test_inter_avg_mode():
    mt, mr = _scene()
    t = pair_targets(mt, mr, torch.tensor([0, 1, 2]))
    centers, ids = _group(t)
    off_r = t["off_r"] + torch.randn(t["off_r"].shape)
    got = instance_flow(ids, 3, t["off_t"], off_r, centers.double(), stride=1, mode="inter_avg")
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(72.0), indexing="ij")
    for m in range(3):
        on = ids == m + 1
        expect = torch.stack([(ys + off_r[0])[on].mean(), (xs + off_r[1])[on].mean()])
        np.testing.assert_allclose(got[m].numpy(), expect.double().numpy(), atol=1e-4)
