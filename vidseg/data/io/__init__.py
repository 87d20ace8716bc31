"""Format I/O: Middlebury ``.flo``, indexed PNGs, KITTI-MOTS txt, robust image reading, RLE helpers."""
from .errors import DatasetFormatError
from .flo import read_flo, write_flo
from .image import read_image
from .kitti_mots import read_kitti_mots_txt, write_kitti_mots_txt
from .png import davis_palette, read_indexed_png, write_indexed_png
from .rle import masks_to_rles, rles_to_masks, to_compressed_rle, uncompressed_to_rles

__all__ = [
    "DatasetFormatError",
    "read_flo",
    "write_flo",
    "read_image",
    "read_kitti_mots_txt",
    "write_kitti_mots_txt",
    "davis_palette",
    "read_indexed_png",
    "write_indexed_png",
    "masks_to_rles",
    "rles_to_masks",
    "to_compressed_rle",
    "uncompressed_to_rles",
]
