"""Item 10: every evaluator's metrics reach the log (also names with '-') and json files; a GT-less split says
where its outputs went."""
import json
import logging
import math

from detectron2.config import CfgNode
from reliability_testutils import args

import train_net
from vidseg.engine.report import copypaste_lines, report_results

VOS = {"vos": {"J&F-Mean": 0.625, "J-Mean": 0.5, "J-Recall": 0.75, "J-Decay": math.nan, "F-Mean": 0.75,
               "F-Recall": 1.0, "F-Decay": 0.0}}


def _cfg(tmp_path):
    cfg = CfgNode()
    cfg.OUTPUT_DIR = str(tmp_path)
    return cfg


def test_vos_metrics_with_dashes_are_logged(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        report_results(_cfg(tmp_path), "davis_val", VOS)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("copypaste: ")]
    assert lines == ["copypaste: Task: vos",
                     "copypaste: J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay",
                     "copypaste: 0.6250,0.5000,0.7500,nan,0.7500,1.0000,0.0000"]


def test_metrics_json_for_every_evaluation(tmp_path):
    report_results(_cfg(tmp_path), "davis_val", VOS)
    per_dataset = json.loads((tmp_path / "inference" / "davis_val" / "metrics.json").read_text())
    assert per_dataset["vos/J&F-Mean"] == 0.625 and per_dataset["vos/J-Decay"] is None
    (line,) = (tmp_path / "metrics.json").read_text().splitlines()  # outside training: appended here too
    assert json.loads(line) == {"eval_dataset": "davis_val", **per_dataset}


def test_gt_less_split_logs_where_outputs_went(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        report_results(_cfg(tmp_path), "ytvos_2019_test", {})
    assert f"ytvos_2019_test has no ground truth: no metrics; predictions / submission files are in {tmp_path}" \
        f"/inference/ytvos_2019_test" in caplog.text


def test_nested_and_non_numeric_entries():
    lines = copypaste_lines({"mots": {"car": {"sMOTSA": 0.5}, "note": "x"}, "raw": 3})
    assert lines == ["Task: mots", "car/sMOTSA", "0.5000", "raw=3"]


def test_eval_only_writes_metrics_json(tmp_path):
    train_net.main(args("--eval-only", opts=["OUTPUT_DIR", tmp_path]))
    rows = [json.loads(x) for x in (tmp_path / "metrics.json").read_text().splitlines()]
    assert [r["eval_dataset"] for r in rows] == ["synth_vis_val"] and "ytvis/AP" in rows[0]
    assert json.loads((tmp_path / "inference" / "synth_vis_val" / "metrics.json").read_text())["ytvis/AP"] == \
        rows[0]["ytvis/AP"]
