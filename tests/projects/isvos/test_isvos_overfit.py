"""Spec §8 item 16 (slow): the tiny model overfits a 10-frame two-object video (train-clip J > 0.8) and
inference with top-k and the FIFO memory runs end to end."""
import numpy as np
import pytest
import torch
from detectron2.utils.events import EventStorage

from isvos_testutils import as_video, square_clip, tiny_model


def _sub_clip(video: dict, idx: list[int]) -> dict:
    return {"image": [video["image"][i] for i in idx], "instances": [video["instances"][i] for i in idx],
            "video_id": video["video_id"], "height": video["height"], "width": video["width"]}


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_overfit_two_squares():
    torch.manual_seed(0)
    video = square_clip(t=10, k=2, h=64, w=64, seed=3)
    model = tiny_model("MODEL.ISVOS.MEMORY.TOP_K", "4", "TEST.VOS.MAX_MEMORY", "3", "TEST.VOS.MEM_EVERY", "2")
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    with EventStorage(0) as storage:
        for it in range(160):
            storage.iter = it
            clips = [_sub_clip(video, sorted(rng.choice(10, 3, replace=False).tolist())) for _ in range(1)]
            losses = model(clips)
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        vi = model([as_video(video)])[0]["video_instances"]
    ious = []
    for j in range(2):
        pred = vi.dense(j).astype(bool)
        gt = np.stack([inst.gt_masks.tensor[j].numpy() for inst in video["instances"]])
        for t in range(1, 10):
            ious.append((pred[t] & gt[t]).sum() / max((pred[t] | gt[t]).sum(), 1))
    assert float(np.mean(ious)) > 0.8, ious
