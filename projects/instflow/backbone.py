"""DeepLab-style ResNet backbone (method spec §2.2): detectron2's ResNet with a dilated res5 (output stride 16
with ``MODEL.RESNETS.RES5_DILATION: 2``) and multi-grid dilations on res5's 3×3 convs."""
from __future__ import annotations

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.resnet import BottleneckBlock, build_resnet_backbone


def apply_multi_grid(res5, base_dilation: int, grid: list[int]) -> None:
    """Set block i of res5 to dilation ``base_dilation · grid[i]`` (padding kept "same")."""
    blocks = list(res5.children())
    if len(grid) != len(blocks):
        raise ValueError(f"MODEL.INSTFLOW.RES5_MULTI_GRID: expected {len(blocks)} values (res5 blocks), got {list(grid)}")
    for block, g in zip(blocks, grid):
        if not isinstance(block, BottleneckBlock):
            raise ValueError("MODEL.INSTFLOW.RES5_MULTI_GRID needs a bottleneck ResNet (MODEL.RESNETS.DEPTH >= 50)")
        d = int(base_dilation * g)
        block.conv2.dilation = (d, d)
        block.conv2.padding = (d, d)


@BACKBONE_REGISTRY.register()
def build_resnet_deeplab_backbone(cfg, input_shape: ShapeSpec):
    """detectron2 ResNet + multi-grid res5 (``MODEL.INSTFLOW.RES5_MULTI_GRID``; [1, 1, 1] = plain dilation)."""
    model = build_resnet_backbone(cfg, input_shape)
    grid = list(cfg.MODEL.INSTFLOW.RES5_MULTI_GRID)
    if "res5" in model._out_features or hasattr(model, "res5"):
        if any(g != 1 for g in grid):
            apply_multi_grid(model.res5, cfg.MODEL.RESNETS.RES5_DILATION, grid)
    return model
