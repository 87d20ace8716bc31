"""``add_isvos_config``: the ``MODEL.ISVOS.*`` keys of Instance-aware VOS with memory matching (paper 004)."""
from detectron2.config import CfgNode as CN


def add_isvos_config(cfg: CN) -> None:
    """Declare ``MODEL.ISVOS`` (idempotent)."""
    if "ISVOS" in cfg.MODEL:
        return
    cfg.MODEL.ISVOS = CN()
