"""The one home of mask encoding and mask geometry (``docs/architecture.md`` §"Structures").

Every other module calls these functions; none converts RLE ``counts`` or builds an IoU matrix by itself.

Forms of a COCO run-length encoding (RLE) accepted everywhere here:

- compressed with ``counts`` as ``str`` — the **json form**, stored in records, ``VideoInstances`` and results;
- compressed with ``counts`` as ``bytes`` — the **coco form** that pycocotools' C functions take;
- uncompressed with ``counts`` as a list of run lengths (as in YouTube-VIS / COCO annotation files).

Functions return the json form unless their name says otherwise (:func:`to_coco_rle`).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pycocotools.mask as mask_util
import torch
from torch.nn import functional as F

RLE = dict  # {"size": [H, W], "counts": str | bytes | list[int]}

__all__ = [
    "RLE", "to_json_rle", "to_coco_rle", "encode_mask", "encode_masks", "decode_mask", "decode_masks", "segm_to_rle",
    "uncompressed_to_rles", "rle_counts", "validate_rle", "rle_areas", "iou_matrix", "ioa_matrix", "intersection_matrix",
    "paired_intersections", "merge", "make_disjoint", "MaskPaster", "resize_masks", "PackedRLE", "pack_rle",
    "unpack_rle",
]

# pycocotools 2.0.x ``area`` builds a temporary ``np.array((n,), dtype=uint8)``, which NumPy 2 refuses for n > 255
_AREA_CHUNK = 255


# ---------------------------------------------------------------------------------------------------- conversions
def to_json_rle(rle: RLE) -> RLE:
    """Any RLE form -> compressed RLE with ``counts`` as ``str`` and ``size`` as two ints."""
    counts = rle["counts"]
    if isinstance(counts, list):
        counts = mask_util.frPyObjects(rle, *[int(s) for s in rle["size"]])["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def to_coco_rle(rle: RLE) -> RLE:
    """Any RLE form -> compressed RLE with ``counts`` as ``bytes`` (what pycocotools' C functions take)."""
    counts = rle["counts"]
    if isinstance(counts, list):
        return mask_util.frPyObjects(rle, *[int(s) for s in rle["size"]])
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


PackedRLE = tuple  # (H, W, zlib-compressed COCO counts): ``pack_rle`` / ``unpack_rle``


def pack_rle(rle: RLE) -> PackedRLE:
    """Compact in-memory form of an RLE held until a video's output is built: the compressed COCO counts,
    zlib-compressed again (noisy masks' counts shrink ≈ 1.5×; a bytes object, no per-character str)."""
    rle = to_coco_rle(rle)
    return int(rle["size"][0]), int(rle["size"][1]), zlib.compress(rle["counts"], 1)


def unpack_rle(packed: PackedRLE) -> RLE:
    """The json-form RLE a :func:`pack_rle` result holds."""
    return {"size": [packed[0], packed[1]], "counts": zlib.decompress(packed[2]).decode("ascii")}


def _coco_list(rles: Iterable[RLE]) -> list[RLE]:
    """RLEs pycocotools' C functions take: compressed ones (str or bytes counts, int size) pass unchanged."""
    return [r if type(r["counts"]) in (str, bytes) and type(r["size"][0]) is int and type(r["size"][1]) is int
            else to_coco_rle(r) for r in rles]


def encode_mask(mask: np.ndarray) -> RLE:
    """One H×W boolean/uint8 mask -> json-form RLE."""
    rle = mask_util.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return to_json_rle(rle)


def encode_masks(masks: np.ndarray) -> list[RLE]:
    """N×H×W binary masks -> N json-form RLEs (one pycocotools call)."""
    masks = np.asarray(masks, dtype=np.uint8)
    if masks.ndim != 3:
        raise ValueError(f"encode_masks: masks must be N×H×W, got shape {masks.shape}")
    if masks.shape[0] == 0:
        return []
    return [to_json_rle(r) for r in mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0)))]


def decode_mask(rle: RLE) -> np.ndarray:
    """Any RLE form -> H×W uint8 mask."""
    return mask_util.decode(to_coco_rle(rle))


def decode_masks(rles: Sequence[RLE], height: int, width: int) -> np.ndarray:
    """N RLEs -> N×H×W uint8 masks (an empty list gives a 0×H×W array)."""
    if not rles:
        return np.zeros((0, height, width), dtype=np.uint8)
    return np.ascontiguousarray(mask_util.decode(_coco_list(rles)).transpose(2, 0, 1))


def segm_to_rle(segm: object, height: int, width: int) -> RLE | None:
    """One COCO-style segmentation -> json-form RLE (``None`` stays ``None``).

    Args:
        segm: polygon list ``[[x0, y0, x1, y1, ...], ...]``, uncompressed RLE, compressed RLE (bytes or str counts)
            or ``None``.
        height, width: image size (polygons are rasterised at it; RLEs must have it).
    Raises:
        ValueError: unknown segmentation type, an RLE whose size is not (height, width) or whose runs do not cover
            exactly height·width pixels (``validate_rle``).
    """
    if segm is None:
        return None
    if isinstance(segm, list):  # polygons
        polys = [p for p in segm if len(p) >= 6]
        if not polys:
            return encode_mask(np.zeros((height, width), dtype=np.uint8))
        return to_json_rle(mask_util.merge(mask_util.frPyObjects(polys, height, width)))
    if isinstance(segm, dict) and "counts" in segm and "size" in segm:
        if [int(s) for s in segm["size"]] != [int(height), int(width)]:
            raise ValueError(f"RLE size {list(segm['size'])} differs from the image size {[height, width]}")
        validate_rle(segm)
        return to_json_rle(segm)
    raise ValueError(f"unsupported segmentation of type {type(segm).__name__} (expected polygons, RLE or null)")


def uncompressed_to_rles(segms: Sequence[dict], height: int, width: int) -> list[RLE]:
    """Many uncompressed RLEs (``counts`` lists) of one image size -> json-form RLEs (one pycocotools call)."""
    if not segms:
        return []
    return [to_json_rle(r) for r in mask_util.frPyObjects(list(segms), height, width)]


# ---------------------------------------------------------------------------------------------------- validation
def rle_counts(rle: RLE) -> list[int]:
    """The run lengths of an RLE (decoding the compressed string as pycocotools' ``rleFrString`` does, vectorised:
    validating every mask of a large json stays fast)."""
    counts = rle["counts"]
    if isinstance(counts, list):
        return [int(c) for c in counts]
    s = np.frombuffer(counts.encode("ascii") if isinstance(counts, str) else bytes(counts), dtype=np.uint8)
    if s.size == 0:
        return []
    c = s.astype(np.int64) - 48
    ends = np.flatnonzero((c & 0x20) == 0)  # the last character of each value
    if ends.size == 0 or ends[-1] != c.size - 1:
        raise ValueError("truncated compressed RLE string")
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 12:
        raise ValueError("compressed RLE value longer than 12 characters")
    x = np.zeros(ends.size, dtype=np.int64)
    for k in range(int(lengths.max())):  # the k-th 5-bit group of every value at once
        has = lengths > k
        x[has] |= (c[starts[has] + k] & 0x1F) << (5 * k)
    negative = (c[ends] & 0x10) != 0
    x[negative] |= np.left_shift(np.int64(-1), 5 * lengths[negative])
    out = x.copy()  # runs from index 3 on are stored as differences to the run two before
    out[1::2] = np.cumsum(x[1::2])
    out[2::2] = np.cumsum(x[2::2])
    return out.tolist()


def validate_rle(rle: object, where: str = "RLE") -> None:
    """Raise ``ValueError`` naming ``where`` unless ``rle`` is a well-formed RLE whose runs cover exactly H·W pixels."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"{where}: expected an RLE dict with 'size' and 'counts', got {type(rle).__name__}")
    size = rle["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(int(v) >= 0 for v in size)):
        raise ValueError(f"{where}: 'size' must be [height, width], got {size!r}")
    if not isinstance(rle["counts"], (str, bytes, list)):
        raise ValueError(f"{where}: 'counts' must be a string or a list of ints, got {type(rle['counts']).__name__}")
    runs = rle_counts(rle)
    if any(r < 0 for r in runs):
        raise ValueError(f"{where}: negative run length in 'counts'")
    total, expected = sum(runs), int(size[0]) * int(size[1])
    if total != expected:
        raise ValueError(f"{where}: 'counts' covers {total} pixels, expected height*width = {expected}")


# ---------------------------------------------------------------------------------------------------- geometry
def rle_areas(rles: Sequence[RLE]) -> np.ndarray:
    """Pixel counts (float64, shape (N,)) of N RLEs."""
    rles = _coco_list(rles)
    if not rles:
        return np.zeros(0)
    parts = [np.atleast_1d(mask_util.area(rles[i : i + _AREA_CHUNK])) for i in range(0, len(rles), _AREA_CHUNK)]
    return np.concatenate(parts).astype(np.float64)


def iou_matrix(a: Sequence[RLE], b: Sequence[RLE], crowd: Sequence[bool] | None = None) -> np.ndarray:
    """len(a)×len(b) mask IoU (float64). Where ``crowd[j]`` is true, column j holds |a_i ∩ b_j| / |a_i| (COCO's
    crowd rule). Two empty masks have IoU 0."""
    a, b = _coco_list(a), _coco_list(b)
    if not a or not b:
        return np.zeros((len(a), len(b)))
    flags = [0] * len(b) if crowd is None else [int(bool(c)) for c in crowd]
    return np.asarray(mask_util.iou(a, b, flags), dtype=np.float64).reshape(len(a), len(b))


def ioa_matrix(a: Sequence[RLE], b: Sequence[RLE]) -> np.ndarray:
    """len(a)×len(b) intersection over the area of a_i, |a_i ∩ b_j| / |a_i| (0 where a_i is empty)."""
    return iou_matrix(a, b, crowd=[True] * len(b))


def intersection_matrix(a: Sequence[RLE], b: Sequence[RLE], areas_a: np.ndarray | None = None) -> np.ndarray:
    """len(a)×len(b) exact pixel counts |a_i ∩ b_j| from one pycocotools call."""
    a, b = _coco_list(a), _coco_list(b)
    if not a or not b:
        return np.zeros((len(a), len(b)))
    areas_a = rle_areas(a) if areas_a is None else np.asarray(areas_a, dtype=np.float64)
    return np.rint(ioa_matrix(a, b) * areas_a[:, None])


def paired_intersections(a: Sequence[RLE], b: Sequence[RLE]) -> np.ndarray:
    """Exact pixel counts |a_k ∩ b_k| (float64, shape (N,)) of N aligned pairs: one pycocotools ``merge`` per
    pair, the areas in one batched call (cheaper than a matrix call when only the diagonal is needed)."""
    if len(a) != len(b):
        raise ValueError(f"paired_intersections: {len(a)} vs {len(b)} RLEs (aligned pairs expected)")
    return rle_areas([mask_util.merge([x, y], intersect=1) for x, y in zip(_coco_list(a), _coco_list(b))])


def merge(rles: Sequence[RLE], intersect: bool = False) -> RLE:
    """Union (or intersection) of RLEs of one size, json form."""
    if not rles:
        raise ValueError("merge: got no RLEs")
    return to_json_rle(mask_util.merge(_coco_list(rles), intersect=int(intersect)))


def make_disjoint(rles: Sequence[RLE], scores: Sequence[float]) -> list[tuple[int, RLE]]:
    """Resolve overlaps as painting in ascending ``scores`` does (a higher score, or a later index among equal
    scores, keeps shared pixels). Returns (index, RLE) of the masks that keep pixels; the input RLEs unchanged
    when the masks are already disjoint (checked with one IoU call)."""
    rles = list(rles)
    if len(rles) < 2:
        return list(enumerate(rles))
    iou = iou_matrix(rles, rles)
    np.fill_diagonal(iou, 0)
    if not (iou > 0).any():
        return list(enumerate(rles))
    masks = mask_util.decode(_coco_list(rles))  # H×W×N
    owner = np.full(masks.shape[:2], -1, dtype=np.int64)
    for k in np.argsort(np.asarray(scores, dtype=float), kind="stable"):
        owner[masks[:, :, k] > 0] = k
    return [(k, encode_mask(owner == k)) for k in range(len(rles)) if (owner == k).any()]


# ---------------------------------------------------------------------------------------------------- resizing
def resize_masks(masks: torch.Tensor, size: tuple[int, int], *, threshold: float | None = None) -> torch.Tensor:
    """(N, h, w) masks or logits -> (N, H, W), bilinear (``align_corners=False``); thresholded to bool if asked."""
    if masks.shape[0] == 0:
        out = masks.new_zeros((0, *size), dtype=torch.float32)
    else:
        out = F.interpolate(masks[:, None].float(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    return out > threshold if threshold is not None else out


@dataclass(frozen=True, kw_only=True)
class MaskPaster:
    """Mask logits at 1/4 of a padded network input -> binary masks at the original frame size.

    Upsampled to the padded input, cropped to the valid (unpadded) region, resized to the original size, logit > 0.

    Attributes:
        padded_size: (H_pad, W_pad) of the padded network input.
        valid_size: (H_in, W_in) of the resized frame inside the padding.
        out_size: (H, W) original video size.
    """

    padded_size: tuple[int, int]
    valid_size: tuple[int, int]
    out_size: tuple[int, int]

    def __call__(self, logits: torch.Tensor) -> np.ndarray:
        """(k, h, w) logits -> (k, H, W) bool."""
        if logits.shape[0] == 0:
            return np.zeros((0, *self.out_size), dtype=bool)
        x = resize_masks(logits, self.padded_size)[:, : self.valid_size[0], : self.valid_size[1]]
        return resize_masks(x, self.out_size, threshold=0.0).cpu().numpy()
