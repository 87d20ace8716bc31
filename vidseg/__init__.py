"""vidseg: one Detectron2 extension for five video-segmentation methods.

Dependency direction: ``train_net.py -> projects.* -> vidseg -> detectron2``. vidseg finds the method
packages through the ``vidseg.projects`` entry-point group (see :mod:`vidseg.plugins`), never by import.
"""

__version__ = "0.1.0"
