"""§9 item 14: the tiny IFR overfits two 4-frame videos of two coloured squares."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from ifr_testutils import build, make_clip
from projects.ifr.targets import clip_targets


@pytest.mark.slow
def test_overfits_two_videos():
    model = build("ifr.yaml", "MODEL.IFR.TRAIN_NUM_POINTS", "1024", seed=0).train()
    clips = [make_clip(t=4, seed=0), make_clip(t=4, seed=1)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.manual_seed(0)
    totals = []
    for _ in range(150):
        losses = model(clips)
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(float(total.detach()))
    assert sum(totals[-5:]) / 5 <= 0.5 * sum(totals[:5]) / 5

    model.eval()
    with torch.no_grad():
        images = model.preprocess([f for c in clips for f in c["image"]])
        out = model.decode(images.tensor, 4)
    targets = clip_targets(clips, tuple(images.tensor.shape[-2:]), model.device)
    pred = F.interpolate(out["pred_masks"].flatten(1, 2), size=images.tensor.shape[-2:], mode="bilinear",
                         align_corners=False).view(*out["pred_masks"].shape[:3], *images.tensor.shape[-2:]) > 0
    for b, tgt in enumerate(targets):
        gt = tgt["masks"] > 0.5  # (M, T, H, W)
        inter = (pred[b, :, None] & gt[None]).flatten(2).sum(-1).float()  # (N, M)
        union = (pred[b, :, None] | gt[None]).flatten(2).sum(-1).float()
        best = (inter / union.clamp(min=1)).max(dim=0).values
        assert (best > 0.5).all(), f"clip {b}: best video IoU per object {best.tolist()}"
