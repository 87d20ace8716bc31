"""``coco_2017_train_objectness``: detectron2's COCO 2017 train with the 80 categories collapsed into one
"object" class (the appearance stream's training set, paper 001 §5.2; ``coco_2017_train_objectness`` of the
official Detectron catalogue). A view over detectron2's own ``coco_2017_train`` registration (same files)."""
from __future__ import annotations

from functools import partial

from detectron2.data import DatasetCatalog, MetadataCatalog

__all__ = ["load_objectness", "register_coco_objectness"]


def load_objectness(source: str) -> list[dict]:
    """The image records of ``source`` with every annotation's ``category_id`` set to 0."""
    return [
        dict(r, annotations=[dict(a, category_id=0) for a in r.get("annotations", [])])
        for r in DatasetCatalog.get(source)
    ]


def register_coco_objectness(name: str = "coco_2017_train_objectness", source: str = "coco_2017_train") -> None:
    """Register ``name`` as the one-class view of ``source`` (idempotent)."""
    if name in DatasetCatalog.list():
        return
    DatasetCatalog.register(name, partial(load_objectness, source))
    src = MetadataCatalog.get(source)
    MetadataCatalog.get(name).set(
        thing_classes=["object"], thing_dataset_id_to_contiguous_id={1: 0}, task="image", has_gt=True,
        json_file=src.get("json_file", ""), image_root=src.get("image_root", ""), evaluator_type="coco",
    )
