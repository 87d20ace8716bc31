#!/usr/bin/env python
"""The single entry point of vidseg: ``python train_net.py --config-file configs/<method>/<name>.yaml [...]``."""
import os
import sys

from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results

import vidseg.data  # noqa: F401  (registers the datasets)
from vidseg.checkpoint import CheckpointError, VidsegCheckpointer
from vidseg.config import ConfigError, load_config
from vidseg.config.validate import check_output_dir, validate_config
from vidseg.data.datasets.common import NO_CACHE_ENV
from vidseg.data.io.errors import DatasetFormatError
from vidseg.engine import VideoTrainer

CONFIG_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
# bad user input: one line "error: <file or key>: <what was expected>" on stderr, exit code 2 (--debug or
# VIDSEG_DEBUG=1 re-raises with the traceback)
USER_ERRORS = (ConfigError, DatasetFormatError, CheckpointError)
EXIT_USER_ERROR = 2


def argument_parser():
    """detectron2's parser plus ``--overwrite`` and ``--debug``."""
    parser = default_argument_parser()
    parser.add_argument("--overwrite", action="store_true",
                        help="train from scratch into an OUTPUT_DIR that holds an earlier run's checkpoints")
    parser.add_argument("--debug", action="store_true", help="show the traceback of input errors")
    parser.add_argument("--no-cache", action="store_true",
                        help=f"parse dataset files again instead of using cached records (or {NO_CACHE_ENV}=1)")
    return parser


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
    validate_config(cfg, training=not args.eval_only)
    check_output_dir(cfg.OUTPUT_DIR, training=not args.eval_only, resume=args.resume,
                     overwrite=getattr(args, "overwrite", False))
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def one_line(error: Exception) -> str:
    """The error's own last line: a DataLoader worker re-raises with the worker traceback prepended."""
    last = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return last.split(f"{type(error).__name__}: ", 1)[-1]


def main(args):
    if getattr(args, "no_cache", False):
        os.environ[NO_CACHE_ENV] = "1"  # inherited by DataLoader workers
    try:
        return run(args)
    except USER_ERRORS as e:
        if getattr(args, "debug", False) or os.environ.get("VIDSEG_DEBUG", "") not in ("", "0"):
            raise
        print(f"error: {one_line(e)}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def run(args):
    cfg = setup(args)
    if args.eval_only:
        model = VideoTrainer.build_model(cfg)
        checkpointer = VidsegCheckpointer(model, save_dir=cfg.OUTPUT_DIR)
        checkpointer.max_unloaded = float(cfg.MODEL.WEIGHTS_MAX_UNLOADED)  # evaluating a partly random model is wrong
        checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = VideoTrainer.test(cfg, model)
        verify_results(cfg, results)
        return results
    trainer = VideoTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
