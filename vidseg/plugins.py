"""Discovery of method packages without importing them by name.

Each method package (``projects.<method>``) is declared in ``setup.py`` under the entry-point group
``vidseg.projects``; importing it runs its ``@register`` decorators and appends its config adder to
``vidseg.config.CONFIG_HOOKS``. This keeps the dependency direction ``projects -> vidseg`` while letting
``get_cfg()`` and the registries see every installed method (third-party ones too).
"""
from importlib import import_module
from importlib.metadata import entry_points

GROUP = "vidseg.projects"
_loaded = False


def load_plugins() -> list[str]:
    """Import every package registered under ``vidseg.projects`` once; returns their module names."""
    global _loaded
    names = sorted({ep.value.split(":")[0] for ep in entry_points(group=GROUP)})
    if not _loaded:
        for name in names:
            import_module(name)
        _loaded = True
    return names
