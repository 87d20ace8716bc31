"""The ``torch.library`` registration of the compiled kernels: schema / fake / autograd checks, and the Mask2Former
pixel decoder traced by ``torch.compile`` (one graph, forward and backward) and by ``torch.export``."""
import pytest
import torch
from detectron2.layers import ShapeSpec

from msda_testutils import make_inputs, rel_err
from vidseg.config import get_cfg
from vidseg.layers.ms_deform_attn import dispatch, ms_deform_attn_op
from vidseg.modeling.pixel_decoder import build_pixel_decoder

pytestmark = pytest.mark.skipif(not dispatch.impl_status()["cpu"][0], reason=dispatch.impl_status()["cpu"][1])

CHANNELS = {"res2": 8, "res3": 16, "res4": 24, "res5": 40}
SHAPES = {k: ShapeSpec(channels=c, stride=4 * 2**i) for i, (k, c) in enumerate(CHANNELS.items())}


def tiny_decoder() -> torch.nn.Module:
    cfg = get_cfg()
    pd = cfg.MODEL.PIXEL_DECODER
    pd.CONV_DIM, pd.MASK_DIM, pd.ENCODER_LAYERS, pd.NUM_HEADS, pd.DIM_FEEDFORWARD = 32, 24, 2, 4, 64
    torch.manual_seed(0)
    decoder = build_pixel_decoder(cfg, SHAPES).eval()
    for layer in decoder.encoder.layers:  # non-zero offsets / weights so sampling is not at the init pattern
        torch.nn.init.normal_(layer.self_attn.sampling_offsets.weight, std=0.5)
        torch.nn.init.normal_(layer.self_attn.attention_weights.weight, std=0.5)
    return decoder


class MaskFeatures(torch.nn.Module):
    """The decoder's ``forward_features`` as ``forward`` over the four maps (what ``torch.export`` takes)."""

    def __init__(self, decoder: torch.nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, res2, res3, res4, res5):
        mask, multi = self.decoder.forward_features({"res2": res2, "res3": res3, "res4": res4, "res5": res5})
        return mask, *multi


def features(batch=2, h=64, w=96, seed=0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, h // s.stride, w // s.stride, generator=g)
            for (k, c), s in zip(CHANNELS.items(), SHAPES.values())]


def test_op_passes_torch_library_checks():
    """Schema, fake (meta) implementation against the real kernel, autograd registration, AOT dispatch."""
    for dtype in (torch.float32, torch.bfloat16):
        inputs = make_inputs(2, 2, 8, [(4, 6), (2, 3)], 5, 2, dtype=dtype, seed=1)
        inputs = [t.requires_grad_(t.is_floating_point()) for t in inputs]
        torch.library.opcheck(ms_deform_attn_op, inputs)


def test_fake_tensors_give_shapes_without_data():
    from torch._subclasses.fake_tensor import FakeTensorMode

    real = make_inputs(2, 4, 8, [(4, 6), (2, 3)], 7, 3, dtype=torch.float32)
    with FakeTensorMode() as mode:
        out = ms_deform_attn_op(*[mode.from_tensor(t) for t in real])
    assert out.shape == (2, 7, 32) and out.dtype == torch.float32


@pytest.mark.slow  # ~40 s on an idle 2-core machine (dynamo + AOT autograd tracing)
def test_compile_pixel_decoder_forward_and_backward():
    """One graph (``fullgraph=True``) through all deformable layers; outputs and parameter gradients equal eager."""
    model = MaskFeatures(tiny_decoder())
    feats = features()
    eager_out = model(*feats)
    sum(o.square().mean() for o in eager_out).backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    out = compiled(*feats)
    sum(o.square().mean() for o in out).backward()
    for o, e in zip(out, eager_out):
        assert rel_err(o, e) <= 1e-5
    scale = max(e.abs().max().item() for e in eager_grads)
    for p, e in zip(model.parameters(), eager_grads):  # (biases before GroupNorm have exactly-zero gradients)
        torch.testing.assert_close(p.grad, e, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.slow
def test_export_pixel_decoder_records_the_op():
    model = MaskFeatures(tiny_decoder())
    feats = features()
    program = torch.export.export(model, tuple(feats))
    targets = [node.target for gm in program.graph_module.modules() if isinstance(gm, torch.fx.GraphModule)
               for node in gm.graph.nodes if node.op == "call_function"]  # (the decoder's fp32 region is a subgraph)
    assert targets.count(torch.ops.vidseg.ms_deform_attn.default) == 2  # one per encoder layer
    with torch.no_grad():
        expected = model(*feats)
        other = features(seed=1)  # the exported program is a real graph, not a recording of one input
        for got, exp in zip(program.module()(*other), model(*other)):
            assert rel_err(got, exp) <= 1e-6
        for got, exp in zip(program.module()(*feats), expected):
            assert rel_err(got, exp) <= 1e-6
