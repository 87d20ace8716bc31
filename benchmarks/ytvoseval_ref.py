"""A faithful re-implementation of the official YouTube-VIS evaluation (the ``ytvos`` / ``ytvoseval`` API of the
YouTube-VOS fork of cocoapi), used as the speed baseline of ``eval_speed.py``.

It follows the official procedure step by step, with the same costs:

1. ``YTVOS(dataset)``: index annotations by id / video / category.
2. ``loadRes(results)``: per predicted track and frame ``maskUtils.area`` and ``maskUtils.toBbox``; ``avg_area``
   = mean of the non-empty frames' areas (0 when none); ``iscrowd = 0``; ids 1..N in result order.
3. ``YTVOSeval.evaluate``: ``_prepare`` (annotations per (video, category) in index order, ``annToRLE`` per
   non-null frame, GT ``avg_area`` from the json's ``areas`` list, ``ignore = iscrowd``); ``computeIoU`` for
   every (video, category): per prediction × ground-truth pair and per frame ``maskUtils.merge`` +
   ``maskUtils.area`` of the intersection and of the union; ``evaluateVid`` (COCO's greedy matching with
   ``avg_area`` as the area) for every category × area range × video.
4. ``accumulate`` and ``summarize``: pycocotools' own (the 12 COCO detection stats).

Steps 3's ``evaluateVid`` and step 4 are pycocotools' ``COCOeval.evaluateImg`` / ``accumulate`` /
``summarize`` with each track's ``area`` set to its ``avg_area``, exactly what the official code does with its
copies of them.
"""
from __future__ import annotations

import contextlib
import io
from collections import defaultdict

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.cocoeval import COCOeval


class YTVOSIndex:
    """``YTVOS``: the dataset dict and its index (``vids``, ``vidToAnns``, ``anns``)."""

    def __init__(self, dataset: dict) -> None:
        self.dataset = dataset
        self.anns = {a["id"]: a for a in dataset.get("annotations", [])}
        self.vids = {v["id"]: v for v in dataset["videos"]}
        self.cats = {c["id"]: c for c in dataset["categories"]}
        self.vid_to_anns: dict = defaultdict(list)
        for a in dataset.get("annotations", []):
            self.vid_to_anns[a["video_id"]].append(a)

    def ann_ids(self, vid_ids, cat_ids) -> list[int]:
        anns = [a for v in vid_ids if v in self.vid_to_anns for a in self.vid_to_anns[v]]
        return [a["id"] for a in anns if a["category_id"] in cat_ids]

    def ann_to_rle(self, ann: dict, frame: int) -> dict:
        v = self.vids[ann["video_id"]]
        segm = ann["segmentations"][frame]
        if isinstance(segm, list):
            return mask_util.merge(mask_util.frPyObjects(segm, v["height"], v["width"]))
        if isinstance(segm["counts"], list):
            return mask_util.frPyObjects(segm, v["height"], v["width"])
        return segm

    def load_res(self, results: list[dict]) -> "YTVOSIndex":
        """``loadRes`` for segmentation results."""
        anns = [dict(r) for r in results]
        for i, ann in enumerate(anns):
            ann["areas"], ann["bboxes"] = [], []
            for seg in ann["segmentations"]:
                if seg:
                    ann["areas"].append(mask_util.area(seg))
                    ann["bboxes"].append(mask_util.toBbox(seg))
                else:
                    ann["areas"].append(None)
                    ann["bboxes"].append(None)
            ann["id"] = i + 1
            nz = [a for a in ann["areas"] if a]
            ann["avg_area"] = np.array(nz).mean() if nz else 0
            ann["iscrowd"] = 0
        return YTVOSIndex({"videos": self.dataset["videos"], "categories": self.dataset["categories"],
                           "annotations": anns})


class OfficialYTVOSeval(COCOeval):
    """``YTVOSeval`` (iouType ``segm``, useCats): videos in the role of images."""

    def __init__(self, gt: YTVOSIndex, dt: YTVOSIndex) -> None:
        super().__init__(iouType="segm")
        self.ytvos_gt, self.ytvos_dt = gt, dt
        p = self.params
        p.imgIds = sorted(gt.vids)
        p.catIds = sorted(gt.cats)
        p.areaRng = [[0**2, 1e5**2], [0**2, 128**2], [128**2, 256**2], [256**2, 1e5**2]]

    def _prepare(self) -> None:
        p = self.params

        def to_mask(anns, index):
            for ann in anns:
                ann["segmentations"] = [index.ann_to_rle(ann, i) if a else a
                                        for i, a in enumerate(ann["segmentations"])]
                nz = [a for a in ann["areas"] if a]
                ann["avg_area"] = np.array(nz).mean() if nz else 0
                ann["area"] = ann["avg_area"]  # what evaluateVid reads as the track's area

        gts = [dict(self.ytvos_gt.anns[i]) for i in self.ytvos_gt.ann_ids(p.imgIds, p.catIds)]
        dts = [dict(self.ytvos_dt.anns[i]) for i in self.ytvos_dt.ann_ids(p.imgIds, p.catIds)]
        to_mask(gts, self.ytvos_gt)
        to_mask(dts, self.ytvos_dt)
        for g in gts:
            g["ignore"] = "iscrowd" in g and g["iscrowd"]
        self._gts, self._dts = defaultdict(list), defaultdict(list)
        for g in gts:
            self._gts[g["video_id"], g["category_id"]].append(g)
        for d in dts:
            self._dts[d["video_id"], d["category_id"]].append(d)
        self.evalImgs = defaultdict(list)
        self.eval = {}

    def computeIoU(self, vidId, catId):  # noqa: N802, N803 (the official names)
        gt, dt = self._gts[vidId, catId], self._dts[vidId, catId]
        if len(gt) == 0 and len(dt) == 0:
            return []
        inds = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in inds][: self.params.maxDets[-1]]
        g = [x["segmentations"] for x in gt]
        d = [x["segmentations"] for x in dt]

        def iou_seq(d_seq, g_seq):
            i = u = 0.0
            for ds, gs in zip(d_seq, g_seq):
                if ds and gs:
                    i += mask_util.area(mask_util.merge([ds, gs], True))
                    u += mask_util.area(mask_util.merge([ds, gs], False))
                elif not ds and gs:
                    u += mask_util.area(gs)
                elif ds and not gs:
                    u += mask_util.area(ds)
            return i / u if u > 0.0 else 0.0

        ious = np.zeros([len(d), len(g)])
        for i, j in np.ndindex(ious.shape):
            ious[i, j] = iou_seq(d[i], g[j])
        return ious


def official_stats(gt_dataset: dict, results: list[dict]) -> np.ndarray:
    """The 12 summary stats (COCO order: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl; -1 =
    undefined) of ``results`` against ``gt_dataset``, the official way (inputs are not modified)."""
    gt = YTVOSIndex(gt_dataset)
    ev = OfficialYTVOSeval(gt, gt.load_res(results))
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=float)
