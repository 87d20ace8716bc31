"""``add_instmove_config``: the ``MODEL.INSTMOVE.*`` keys of InstMove motion prior (paper 000)."""
from detectron2.config import CfgNode as CN


def add_instmove_config(cfg: CN) -> None:
    """Declare ``MODEL.INSTMOVE`` (idempotent)."""
    if "INSTMOVE" in cfg.MODEL:
        return
    cfg.MODEL.INSTMOVE = CN()
