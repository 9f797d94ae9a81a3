"""Train a model (stage 1 MCTformer, or the DeepLab stage): MMSeg's ``tools/train.py`` interface.

A config whose training masks are the dataset's ground truth is refused unless ``--allow-gt-masks``
is given (:func:`mmseg_mctformer.apis.check_training_masks`).
"""
import argparse

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.apis import (
    add_common_args,
    build_runner,
    check_training_masks,
    close_process_group,
    load_config,
    parse_with_local_rank,
)
from mmseg_mctformer.utils import check_checkpoint_file


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
    runner.train()


if __name__ == '__main__':
    main()
    close_process_group()
