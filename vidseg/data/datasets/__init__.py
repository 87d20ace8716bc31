"""Dataset loaders (real formats), the synthetic data, and the registration of every built-in name."""
from vidseg.data.io.errors import DatasetFormatError

from .builtin import builtin_datasets, register_all_builtin
from .custom import load_vos_folder, register_mots_txt, register_vos_folder, register_ytvis_instances
from .davis import load_davis
from .fbms import load_fbms, read_fbms_def
from .kitti_mots import load_kitti_mots
from .synthetic import ensure_synthetic, load_synthetic
from .ytvis import load_ytvis_json
from .ytvos import load_ytvos

__all__ = [
    "DatasetFormatError",
    "builtin_datasets",
    "register_all_builtin",
    "load_davis",
    "load_fbms",
    "read_fbms_def",
    "load_kitti_mots",
    "ensure_synthetic",
    "load_synthetic",
    "load_ytvis_json",
    "load_ytvos",
    "load_vos_folder",
    "register_mots_txt",
    "register_vos_folder",
    "register_ytvis_instances",
]
