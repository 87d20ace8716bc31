"""``vidseg.vos``: memory bank (spec isvos.md §8 item 6), the engine's memorise rule, objects added / removed,
bad input, bounded memory on long videos, and flip merging (item 17), with a hand-checkable toy model."""
import pytest
import torch
from torch.nn import functional as F

from vidseg.vos import EngineSettings, MemoryBank, StreamingVOSModel, TTAEngine, VOSEngine


class CopyModel:
    """Predicts the object probabilities stored in the most recent memory entry (values = 8×8-pooled probs)."""

    def __init__(self):
        self.encoded = 0

    def prepare(self, frame):
        x = frame.float()[None] / 255
        h, w = x.shape[-2:]
        return F.pad(x, (0, (-w) % 8, 0, (-h) % 8))

    def encode_frame(self, image):
        self.encoded += 1
        return {"key": F.avg_pool2d(image, 8)[:, :2]}

    def encode_value(self, frame, image, probs):
        return F.avg_pool2d(probs, 8)[:, :, None]

    def segment(self, frame, mem_key, mem_value):
        last = mem_value[:, :, 0, -1]
        obj = F.interpolate(last, scale_factor=8, mode="nearest")
        return {"probs": self.aggregate(obj)}

    def aggregate(self, obj):
        bg = (1 - obj.sum(1, keepdim=True)).clamp(0, 1)
        p = torch.cat([bg, obj], 1) + 1e-6
        return p / p.sum(1, keepdim=True)


def frames(n, h=32, w=48):
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 255, (3, h, w), dtype=torch.uint8, generator=g) for _ in range(n)]


def box(h, w, y0, y1, x0, x1):
    m = torch.zeros(h, w)
    m[y0:y1, x0:x1] = 1
    return m


def test_toy_model_follows_the_protocol():
    assert isinstance(CopyModel(), StreamingVOSModel)


def test_memory_bank_fifo_with_pinned_first_frame():
    bank = MemoryBank(16)
    for t in range(40):
        bank.push(t, torch.zeros(2, 1, 1), torch.zeros(1, 3, 1, 1), [1], pinned=t == 0)
        if t == 16:
            assert bank.frames == [0] + list(range(2, 17))  # frame 1 (oldest unpinned) evicted
    assert len(bank) == 16 and bank.frames == [0] + list(range(25, 40))
    bank.push(40, torch.zeros(2, 1, 1), torch.zeros(2, 3, 1, 1), [1, 2], pinned=True)
    keys, values = bank.read([2, 1])
    assert keys.shape == (1, 2, 16, 1, 1) and values.shape == (1, 2, 3, 16, 1, 1)


@pytest.mark.parametrize("length,expected", [(12, [0, 5, 10]), (11, [0, 5])])
def test_memorise_every_n_relative_and_never_the_last(length, expected):
    engine = VOSEngine(CopyModel(), EngineSettings(mem_every=5, max_memory=16))
    for t, f in enumerate(frames(length)):
        engine.step(f, box(32, 48, 4, 12, 4, 12)[None] if t == 0 else None, end=t == length - 1)
    assert engine.memory.frames == expected


def test_annotated_frames_always_memorised_and_pinned():
    engine = VOSEngine(CopyModel(), EngineSettings(mem_every=5, max_memory=3))
    for t, f in enumerate(frames(20)):
        masks = box(32, 48, 4, 12, 4, 12)[None] if t == 0 else (box(32, 48, 20, 28, 30, 40)[None] if t == 7 else None)
        engine.step(f, masks, [1] if t == 0 else ([2] if t == 7 else None))
    # frames 0 and 7 are pinned; only one FIFO slot left for 12 / 17
    assert engine.memory.frames == [0, 7, 17]
    assert engine.object_ids == [1, 2]


def test_objects_added_late_merged_and_removed():
    model = CopyModel()
    engine = VOSEngine(model, EngineSettings(mem_every=1))
    fs = frames(5)
    a, b = box(32, 48, 0, 16, 0, 16), box(32, 48, 8, 24, 8, 24)
    engine.step(fs[0], a[None], [3])
    out = engine.step(fs[1])
    assert out["object_ids"] == [3] and (out["labels"][:16, :16] == 3).all()
    out = engine.step(fs[2], b[None], [5])  # object 5 enters; object 3 is zeroed inside its mask
    assert out["object_ids"] == [3, 5]
    assert (out["labels"][8:24, 8:24] == 5).all() and (out["labels"][:8, :16] == 3).all()
    _, values = engine.memory.read([3, 5])
    assert values[0, 1, :, 0].abs().sum() == 0  # object 5 did not exist when frame 0 was memorised
    engine.remove_objects([3])
    out = engine.step(fs[3])
    assert out["object_ids"] == [5] and not (out["labels"] == 3).any()
    assert all(e.object_ids == [5] or e.object_ids == [] for e in engine.memory.entries)
    assert model.encoded == 4  # one encoder pass per frame: the memorised frames reuse the cached features


def test_bad_input_errors():
    engine = VOSEngine(CopyModel(), EngineSettings(max_objects=2))
    fs = frames(2)
    with pytest.raises(ValueError, match="masks are"):
        engine.step(fs[0], torch.zeros(1, 16, 16))
    engine.reset()
    labels = torch.zeros(32, 48, dtype=torch.long)
    labels[:4, :4], labels[8:12, :4], labels[20:, 20:] = 1, 2, 3
    with pytest.raises(ValueError, match="exceed the limit of 2"):
        engine.step(fs[0], labels)
    engine.reset()
    engine.step(fs[0], labels.clamp(max=2))
    with pytest.raises(ValueError, match="started at 48x32"):
        engine.step(frames(1, h=40)[0])


def test_memory_stays_bounded_on_long_videos():
    engine = VOSEngine(CopyModel(), EngineSettings(mem_every=1, max_memory=4))
    f = frames(1)[0]
    engine.step(f, box(32, 48, 0, 8, 0, 8)[None])
    for _ in range(300):
        engine.step(f)
    assert len(engine.memory) == 4 and engine.memory.frames[0] == 0 and len(engine._cache) == 1


def test_flip_merge_is_equivariant_to_flipping_the_input():
    class Asym(CopyModel):  # not flip-equivariant on its own: adds a left-right ramp to every prediction
        def segment(self, frame, mem_key, mem_value):
            obj = F.interpolate(mem_value[:, :, 0, -1], scale_factor=8, mode="nearest")
            ramp = torch.linspace(0, 0.3, obj.shape[-1])
            return {"probs": self.aggregate((obj + ramp).clamp(0, 1))}

    fs = frames(4)
    m = box(32, 48, 4, 20, 2, 18)[None]

    def run(flip_input, tta):
        model = Asym()
        engine = TTAEngine(model, EngineSettings(mem_every=1), flip=True) if tta else VOSEngine(model, EngineSettings(mem_every=1))
        outs = []
        for t, f in enumerate(fs):
            ff, mm = (f.flip(-1), m.flip(-1)) if flip_input else (f, m)
            outs.append(engine.step(ff, mm if t == 0 else None)["probs"])
        return outs

    plain, mirrored = run(False, True), run(True, True)
    for a, b in zip(plain, mirrored):
        assert torch.allclose(a, b.flip(-1), atol=1e-6)
    single, single_m = run(False, False), run(True, False)
    assert not torch.allclose(single[-1], single_m[-1].flip(-1), atol=1e-3)  # the model alone is not equivariant
