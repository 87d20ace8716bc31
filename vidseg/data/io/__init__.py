"""Format I/O: Middlebury ``.flo``, indexed PNGs, KITTI-MOTS txt, robust image reading. RLE helpers live in :mod:`vidseg.structures.masks`."""
from .errors import DatasetFormatError
from .flo import read_flo, write_flo
from .image import read_image
from .kitti_mots import read_kitti_mots_txt, write_kitti_mots_txt
from .png import davis_palette, png_mode, read_indexed_png, write_indexed_png

__all__ = [
    "DatasetFormatError",
    "read_flo",
    "write_flo",
    "read_image",
    "read_kitti_mots_txt",
    "write_kitti_mots_txt",
    "davis_palette",
    "read_indexed_png",
    "png_mode",
    "write_indexed_png",
]
