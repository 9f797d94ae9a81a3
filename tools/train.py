"""Train a model (stage 1 MCTformer, or the DeepLab stage): MMSeg's ``tools/train.py`` interface.

A config whose training masks are the dataset's ground truth is refused unless ``--allow-gt-masks``
is given (:func:`mmseg_mctformer.pipeline.check_training_masks`).

After a stage-1 training whose last epoch ended with a validation, the run fails (exit status 1,
the checkpoints kept) when the validation shows that stage 1 has not learned: classification mAP
near the labels' base rate, or the best seed threshold at the edge of the sweep
(:mod:`mmseg_mctformer.pipeline.stage1_guard`); ``--allow-weak-stage1`` turns that into a warning.
"""
import argparse
import sys

from mmengine.hooks import Hook

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.cli import add_common_args, parse_with_local_rank
from mmseg_mctformer.engine.runner import build_runner, close_process_group, load_config
from mmseg_mctformer.pipeline import (
    WeakStage1Error,
    check_stage1,
    check_training_masks,
    sweep_thresholds,
)
from mmseg_mctformer.utils import check_checkpoint_file


class _LastValMetrics(Hook):
    """The metrics of the latest validation and the epoch it ran after."""

    def __init__(self):
        self.metrics, self.epoch = {}, None

    def after_val_epoch(self, runner, metrics=None):
        self.metrics, self.epoch = dict(metrics or {}), runner.epoch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor (MMSeg-compatible)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', action='store_true',
                        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--allow-gt-masks', action='store_true',
                        help='train even when the training masks are the ground-truth masks '
                        '(a fully supervised baseline; refused otherwise)')
    parser.add_argument('--allow-weak-stage1', action='store_true',
                        help='exit 0 although the last validation of a stage-1 model shows no '
                        'learning (mAP near the labels\' base rate, best seed threshold at the '
                        'sweep\'s edge); a warning is logged instead')
    add_common_args(parser)
    return parse_with_local_rank(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher,
                      amp=args.amp, resume=args.resume, check_paths=True)
    check_training_masks(cfg, allow_gt_masks=args.allow_gt_masks, source=args.config)
    runner = build_runner(cfg)
    if cfg.get('load_from'):  # mmengine loads with strict=False: refuse another architecture
        check_checkpoint_file(runner.model, cfg.load_from)
    last = _LastValMetrics()
    runner.register_hook(last, priority='LOWEST')
    runner.train()
    if last.epoch is not None and last.epoch == runner.max_epochs:
        try:
            check_stage1(last.metrics, sweep_thresholds(cfg), allow=args.allow_weak_stage1,
                         where=f'stage 1 ({cfg.work_dir}, last validation)')
        except WeakStage1Error as err:
            sys.exit(f'train: {err}')


if __name__ == '__main__':
    try:
        main()
    finally:
        close_process_group()
