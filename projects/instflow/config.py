"""``add_instflow_config``: the ``MODEL.INSTFLOW.*`` keys of Instance Flow Assembly (paper 002)."""
from detectron2.config import CfgNode as CN


def add_instflow_config(cfg: CN) -> None:
    """Declare ``MODEL.INSTFLOW`` (idempotent)."""
    if "INSTFLOW" in cfg.MODEL:
        return
    cfg.MODEL.INSTFLOW = CN()
