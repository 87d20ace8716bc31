"""vidseg: one Detectron2 extension for five video-segmentation methods.

Dependency direction: ``train_net.py -> projects.* -> vidseg -> detectron2``. vidseg finds the method
packages through the ``vidseg.projects`` entry-point group (see :mod:`vidseg.plugins`), never by import.

``import vidseg`` registers everything vidseg itself provides (:func:`register_all`): the built-in dataset names in
detectron2's ``DatasetCatalog``, the mappers, evaluators, trackers, tracker cost terms and motion priors in
:mod:`vidseg.registry`, and the meta-architectures, backbones and pixel decoders in detectron2's registries.
Method packages (``projects.*``) are loaded by :func:`vidseg.plugins.load_plugins` (``get_cfg`` calls it).
"""

__version__ = "0.1.0"


def register_all() -> None:
    """Register every built-in dataset and registry member of vidseg (idempotent: later calls do nothing)."""
    from . import data, evaluation, modeling, tracking  # noqa: F401  (importing registers)
    from .data import build  # noqa: F401  (imports and so registers the mappers)

    data.register_all_builtin()


register_all()
