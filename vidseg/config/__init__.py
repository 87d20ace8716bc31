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
    check_yaml_chain(config_file)
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


def check_yaml_chain(config_file: str, _seen: tuple[str, ...] = ()) -> None:
    """Parse ``config_file`` and every ``_BASE_`` it names; ``ConfigError`` naming the file for invalid YAML, a
    non-mapping top level, a missing or circular ``_BASE_``."""
    import os

    import yaml

    path = os.path.abspath(config_file)
    if path in _seen:
        raise ConfigError(f"{config_file}: _BASE_ chain is circular ({' -> '.join(_seen + (path,))})")
    try:
        with open(config_file) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{config_file}: invalid YAML ({problem}{where})") from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(f"{config_file}: expected a mapping of config keys at the top level, found "
                          f"{type(data).__name__}")
    base = data.get("_BASE_")
    if base is None:
        return
    if not isinstance(base, str):
        raise ConfigError(f"{config_file}: _BASE_ must be a path string, found {type(base).__name__}")
    base_path = os.path.expanduser(base)
    if not os.path.isabs(base_path):
        base_path = os.path.join(os.path.dirname(config_file), base_path)
    if not os.path.isfile(base_path):
        raise ConfigError(f"{config_file}: _BASE_ file {base!r} not found (looked for {base_path})")
    check_yaml_chain(base_path, _seen + (path,))


__all__ += ["load_config", "ConfigError", "check_yaml_chain"]
