#!/usr/bin/env python
"""The single entry point of vidseg: ``python train_net.py --config-file configs/<method>/<name>.yaml [...]``."""
import os
import sys

from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results

import vidseg.data  # noqa: F401  (registers the datasets)
from vidseg.checkpoint import VidsegCheckpointer
from vidseg.config import ConfigError, load_config
from vidseg.data.io.errors import DatasetFormatError
from vidseg.engine import VideoTrainer

CONFIG_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def default_output_dir(config_file: str) -> str:
    """``output/<path of the yaml below configs/, without .yaml>``, e.g. ``output/ifr/swin_l``."""
    path = os.path.abspath(config_file)
    rel = os.path.relpath(path, CONFIG_ROOT)
    stem = os.path.splitext(rel if not rel.startswith("..") else os.path.basename(path))[0]
    return os.path.join("output", stem)


def setup(args):
    cfg = load_config(args.config_file, args.opts)
    if "OUTPUT_DIR" not in args.opts and cfg.OUTPUT_DIR == "./output":
        cfg.OUTPUT_DIR = default_output_dir(args.config_file)
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def one_line(error: Exception) -> str:
    """The error's own last line: a DataLoader worker re-raises with the worker traceback prepended."""
    last = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return last.split(f"{type(error).__name__}: ", 1)[-1]


def main(args):
    try:
        return run(args)
    except (ConfigError, DatasetFormatError) as e:
        sys.exit(f"error: {one_line(e)}")


def run(args):
    cfg = setup(args)
    if args.eval_only:
        model = VideoTrainer.build_model(cfg)
        VidsegCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = VideoTrainer.test(cfg, model)
        verify_results(cfg, results)
        return results
    trainer = VideoTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
