"""Train a model (stage 1 MCTformer, or the DeepLab stage): MMSeg's ``tools/train.py`` interface."""
import argparse

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.apis import (
    add_common_args,
    build_runner,
    close_process_group,
    load_config,
    parse_with_local_rank,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor (MMSeg-compatible)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', action='store_true',
                        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training')
    add_common_args(parser)
    return parse_with_local_rank(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher,
                      amp=args.amp, resume=args.resume, check_paths=True)
    build_runner(cfg).train()


if __name__ == '__main__':
    main()
    close_process_group()
