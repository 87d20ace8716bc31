"""Registration of every built-in dataset name (``docs/architecture.md``), run once at ``import vidseg.data``.

Real datasets live under ``$DETECTRON2_DATASETS`` (default ``datasets/``), read when a loader runs; the
layouts are documented in ``datasets/README.md``. Loaders are lazy (``DatasetCatalog.get``). Metadata:
``evaluator_type`` (EVALUATOR_REGISTRY name), ``task`` (vis|vos|moseg|mots), ``thing_classes``,
``thing_dataset_id_to_contiguous_id``, ``has_gt`` and the paths ``json_file|gt_root``, ``image_root``,
``flow_root`` (when relevant), plus for VOS ``vos_protocol``:

- ``davis``: semi-supervised DAVIS (masks of each object's first frame given, first/last frames skipped),
- ``ytvos``: YouTube-VOS (objects start late; the server scores seen/unseen classes),
- ``davis_binary``: DAVIS-2016 fg/bg (union of the predicted instances vs the single object)

(the protocols of :mod:`vidseg.evaluation.vos_sequences`).

Paths in the metadata follow the roots at registration time and are refreshed when a loader runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from detectron2.data import DatasetCatalog, MetadataCatalog

from .common import cache_dir, datasets_root
from .davis import load_davis
from .fbms import load_fbms
from .kitti_mots import KITTI_MOTS_SPLITS, MOTS_CLASS_IDS, MOTS_CLASSES, load_kitti_mots
from .synthetic import PRESETS, TASKS, load_synthetic, synth_paths
from .synthetic.render import CLASS_NAMES
from .ytvis import load_ytvis_json
from .ytvos import load_ytvos

YTVIS_2019_CLASSES = (
    "person", "giant_panda", "lizard", "parrot", "skateboard", "sedan", "ape", "dog", "snake", "monkey",
    "hand", "rabbit", "duck", "cat", "cow", "fish", "train", "horse", "turtle", "bear", "motorbike", "giraffe",
    "leopard", "fox", "deer", "owl", "surfboard", "airplane", "truck", "zebra", "tiger", "elephant",
    "snowboard", "boat", "shark", "mouse", "frog", "eagle", "earless_seal", "tennis_racket",
)
YTVIS_2021_CLASSES = (
    "airplane", "bear", "bird", "boat", "car", "cat", "cow", "deer", "dog", "duck", "earless_seal", "elephant",
    "fish", "flying_disc", "fox", "frog", "giant_panda", "giraffe", "horse", "leopard", "lizard", "monkey",
    "motorbike", "mouse", "parrot", "person", "rabbit", "shark", "skateboard", "snake", "snowboard", "squirrel",
    "surfboard", "tennis_racket", "tiger", "train", "truck", "turtle", "whale", "zebra",
)
OVIS_CLASSES = (
    "Person", "Bird", "Cat", "Dog", "Horse", "Sheep", "Cow", "Elephant", "Bear", "Zebra", "Giraffe", "Poultry",
    "Giant_panda", "Lizard", "Parrot", "Monkey", "Rabbit", "Tiger", "Fish", "Turtle", "Bicycle", "Motorcycle",
    "Airplane", "Boat", "Vehical",
)
OBJECT = ("object",)
EVALUATORS = {"vis": "YTVISEvaluator", "vos": "VOSEvaluator", "moseg": "FBMSEvaluator", "mots": "MOTSEvaluator"}


@dataclass(frozen=True, kw_only=True)
class BuiltinDataset:
    """One registered name: ``paths()`` -> metadata paths from the current roots; ``load(paths, name)``."""

    task: str
    thing_classes: tuple[str, ...]
    has_gt: bool
    paths: Callable[[], dict[str, str]]
    load: Callable[[dict[str, str], str], list[dict]]
    extra: dict = field(default_factory=dict)


def _ytvis(folder: str, image_dir: str, json_name: str, classes: tuple[str, ...], has_gt: bool) -> BuiltinDataset:
    def paths() -> dict[str, str]:
        root = datasets_root() / folder
        return {"json_file": str(root / json_name), "image_root": str(root / image_dir)}

    return BuiltinDataset(
        task="vis", thing_classes=classes, has_gt=has_gt, paths=paths,
        load=lambda p, name: load_ytvis_json(p["json_file"], p["image_root"], name, require_annotations=has_gt),
    )


def _davis(year: int, split: str, *, binary: bool, has_gt: bool) -> BuiltinDataset:
    def paths() -> dict[str, str]:
        root = datasets_root() / "DAVIS"
        return {"gt_root": str(root / "Annotations" / "480p"), "image_root": str(root / "JPEGImages" / "480p"),
                "flow_root": str(root / "flow" / "480p")}

    def load(p: dict[str, str], name: str) -> list[dict]:
        return load_davis(datasets_root() / "DAVIS", year=year, split=split, binary=binary, dataset_name=name,
                          require_annotations=has_gt, flow_root=p["flow_root"], cache=cache_dir())

    return BuiltinDataset(task="vos", thing_classes=OBJECT, has_gt=has_gt, paths=paths, load=load,
                          extra={"vos_protocol": "davis_binary" if binary else "davis"})


def _ytvos(folder: str, split: str, has_gt: bool) -> BuiltinDataset:
    def paths() -> dict[str, str]:
        root = datasets_root() / folder / split
        return {"gt_root": str(root / "Annotations"), "image_root": str(root / "JPEGImages"),
                "flow_root": str(root / "flow")}

    def load(p: dict[str, str], name: str) -> list[dict]:
        return load_ytvos(datasets_root() / folder, split=split, dataset_name=name, require_annotations=has_gt,
                          flow_root=p["flow_root"], cache=cache_dir())

    return BuiltinDataset(task="vos", thing_classes=OBJECT, has_gt=has_gt, paths=paths, load=load,
                          extra={"vos_protocol": "ytvos"})


def _fbms(split_dir: str) -> BuiltinDataset:
    def paths() -> dict[str, str]:
        root = datasets_root() / "FBMS"
        return {"gt_root": str(root / split_dir), "image_root": str(root / split_dir),
                "flow_root": str(root / "flow" / split_dir)}

    def load(p: dict[str, str], name: str) -> list[dict]:
        return load_fbms(datasets_root() / "FBMS", split=split_dir, dataset_name=name, flow_root=p["flow_root"])

    return BuiltinDataset(task="moseg", thing_classes=OBJECT, has_gt=True, paths=paths, load=load)


def _kitti_mots(split: str) -> BuiltinDataset:
    def paths() -> dict[str, str]:
        root = datasets_root() / "kitti_mots"
        return {"gt_root": str(root / "instances_txt"), "image_root": str(root / "training" / "image_02")}

    def load(p: dict[str, str], name: str) -> list[dict]:
        return load_kitti_mots(datasets_root() / "kitti_mots", sequences=KITTI_MOTS_SPLITS[split], dataset_name=name)

    return BuiltinDataset(task="mots", thing_classes=tuple(MOTS_CLASSES), has_gt=True, paths=paths, load=load)


def _synthetic(task: str, split: str, preset: str) -> BuiltinDataset:
    classes = {"vis": CLASS_NAMES, "mots": tuple(MOTS_CLASSES)}.get(task, OBJECT)
    # objects may enter late, so synthetic VOS is scored like YouTube-VOS (from each object's first frame on)
    extra = {"vos_protocol": "ytvos"} if task == "vos" else {}
    return BuiltinDataset(
        task=task, thing_classes=tuple(classes), has_gt=True, paths=partial(synth_paths, task, split, preset),
        load=lambda p, name: load_synthetic(task, split, preset, name), extra=extra,
    )


def builtin_datasets() -> dict[str, BuiltinDataset]:
    """Every built-in name and its spec."""
    specs: dict[str, BuiltinDataset] = {}
    for year, classes in (("2019", YTVIS_2019_CLASSES), ("2021", YTVIS_2021_CLASSES)):
        for split, folder, has_gt in (("train", "train", True), ("val", "valid", False), ("test", "test", False)):
            specs[f"ytvis_{year}_{split}"] = _ytvis(
                f"ytvis_{year}", f"{folder}/JPEGImages", f"{folder}.json", classes, has_gt
            )
    for split, folder, json_name, has_gt in (
        ("train", "train", "annotations_train.json", True),
        ("val", "valid", "annotations_valid.json", False),
        ("test", "test", "annotations_test.json", False),
        ("sub_train", "train", "annotations_sub_train.json", True),  # datasets/prepare_ovis_sub.py
        ("sub_val", "train", "annotations_sub_val.json", True),
    ):
        name = f"ovis_{split}"
        specs[name] = _ytvis("ovis", folder, f"annotations/{json_name}", OVIS_CLASSES, has_gt)
    for split in ("train", "val"):
        specs[f"davis_2016_{split}"] = _davis(2016, split, binary=True, has_gt=True)
        # DAVIS-2016 sequences with the per-object masks of DAVIS 2017 (moving-object training, paper 001)
        specs[f"davis_2016_{split}_instance"] = _davis(2016, split, binary=False, has_gt=True)
        specs[f"davis_2017_{split}"] = _davis(2017, split, binary=False, has_gt=True)
    specs["davis_2017_test_dev"] = _davis(2017, "test-dev", binary=False, has_gt=False)
    for year in ("2018", "2019"):
        specs[f"ytvos_{year}_train"] = _ytvos(f"ytvos_{year}", "train", True)
        specs[f"ytvos_{year}_val"] = _ytvos(f"ytvos_{year}", "valid", False)
    specs["fbms_59_train"] = _fbms("Trainingset")
    specs["fbms_59_test"] = _fbms("Testset")
    from .moving import moving_datasets  # moving-object subsets (paper 001); imported here: it uses this module

    specs.update(moving_datasets())
    for split in ("train", "val"):
        specs[f"kitti_mots_{split}"] = _kitti_mots(split)
    for preset in PRESETS:
        suffix = "" if preset == "tiny" else f"_{preset}"
        for task in TASKS:
            for split in ("train", "val"):
                specs[f"synth_{task}_{split}{suffix}"] = _synthetic(task, split, preset)
    return specs


def _id_map(spec: BuiltinDataset) -> dict[int, int]:
    if spec.thing_classes == tuple(MOTS_CLASSES):
        return dict(MOTS_CLASS_IDS)
    return {i + 1: i for i in range(len(spec.thing_classes))}


def _metadata(spec: BuiltinDataset, paths: dict[str, str]) -> dict:
    return {
        "evaluator_type": EVALUATORS[spec.task], "task": spec.task, "thing_classes": list(spec.thing_classes),
        "thing_dataset_id_to_contiguous_id": _id_map(spec), "has_gt": spec.has_gt, **paths, **spec.extra,
    }


def _load(name: str, spec: BuiltinDataset) -> list[dict]:
    """Registered loader: resolve the roots now, refresh the metadata paths if they moved, load, tag records."""
    paths = spec.paths()
    meta = MetadataCatalog.get(name)
    if any(meta.get(k, None) != v for k, v in paths.items()):
        kept = {k: v for k, v in meta.as_dict().items() if k not in paths and k != "name"}
        MetadataCatalog.remove(name)
        MetadataCatalog.get(name).set(**kept, **paths)
    records = spec.load(paths, name)
    for r in records:
        r["dataset_name"] = name
    return records


_REGISTERED = False


def register_all_builtin() -> list[str]:
    """Register every built-in name once (later calls and already-registered names are skipped)."""
    global _REGISTERED
    names = []
    if _REGISTERED:
        return names
    existing = set(DatasetCatalog.list())
    for name, spec in builtin_datasets().items():
        if name in existing:
            continue
        DatasetCatalog.register(name, partial(_load, name, spec))
        MetadataCatalog.get(name).set(**_metadata(spec, spec.paths()))
        names.append(name)
    _REGISTERED = True
    return names
