"""``get_cfg()``: detectron2 defaults -> ``add_vidseg_config`` -> every project's adder in ``CONFIG_HOOKS``."""
from typing import Callable

from detectron2.config import CfgNode
from detectron2.config import get_cfg as _d2_get_cfg

from .defaults import add_vidseg_config

CONFIG_HOOKS: list[Callable[[CfgNode], None]] = []


def register_config_hook(adder: Callable[[CfgNode], None]) -> Callable[[CfgNode], None]:
    """Called by each project on import with its ``add_<method>_config`` (idempotent)."""
    if adder not in CONFIG_HOOKS:
        CONFIG_HOOKS.append(adder)
    return adder


def get_cfg() -> CfgNode:
    """The one config constructor used by ``train_net.py`` and the tests. Unknown yaml keys fail."""
    from vidseg.plugins import load_plugins

    load_plugins()
    cfg = _d2_get_cfg()
    add_vidseg_config(cfg)
    for adder in CONFIG_HOOKS:
        adder(cfg)
    return cfg


__all__ = ["get_cfg", "add_vidseg_config", "CONFIG_HOOKS", "register_config_hook"]


def load_config(config_file: str, opts: list[str] | None = None) -> CfgNode:
    """``get_cfg()`` merged with ``config_file`` (and its ``_BASE_`` chain) and ``opts``.

    An unknown key or a malformed file raises ``ConfigError`` naming the file and the key."""
    import os

    cfg = get_cfg()
    if not os.path.isfile(config_file):
        raise ConfigError(f"{config_file}: config file not found")
    try:
        cfg.merge_from_file(config_file)
    except KeyError as e:  # yacs: "Non-existent config key: X"
        raise ConfigError(f"{config_file} (or a file in its _BASE_ chain): {e.args[0]}") from None
    except (ValueError, AssertionError) as e:  # yacs type mismatch / invalid value
        raise ConfigError(f"{config_file} (or a file in its _BASE_ chain): {e}") from None
    try:
        cfg.merge_from_list(list(opts or []))
    except (KeyError, ValueError, AssertionError) as e:
        raise ConfigError(f"command-line opts: {e.args[0] if e.args else e}") from None
    return cfg


class ConfigError(ValueError):
    """A config file or override that cannot be applied (unknown key, wrong type, missing file)."""


__all__ += ["load_config", "ConfigError"]
