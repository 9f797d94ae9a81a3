"""Test (evaluate) a checkpoint: MMSeg's ``tools/test.py`` interface."""
import argparse
import os.path as osp

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.apis import (
    add_common_args,
    build_runner,
    close_process_group,
    load_config,
    parse_with_local_rank,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model (MMSeg-compatible)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='directory to save the predicted masks as PNG '
                        '(sets the evaluator output_dir, as in MMSeg)')
    parser.add_argument('--show-dir', help='directory to save painted predictions')
    parser.add_argument('--tta', action='store_true', help='use the config\'s test-time aug')
    add_common_args(parser)
    return parse_with_local_rank(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    if args.show_dir is not None:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise KeyError('--show-dir needs default_hooks.visualization in the config')
        hooks.visualization.update(draw=True, interval=1)
        cfg.visualizer['save_dir'] = osp.join(cfg.work_dir, args.show_dir)
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    build_runner(cfg).test()


if __name__ == '__main__':
    main()
    close_process_group()
