"""Test (evaluate) a checkpoint: MMSeg's ``tools/test.py`` interface and flags.

    python tools/test.py CONFIG CHECKPOINT [--out DIR] [--show] [--wait-time S] [--show-dir DIR]
        [--tta] [--crf [--crf-workers N]] [--format-only [voc|coco]] [--work-dir DIR]
        [--cfg-options k=v ...] [--launcher pytorch]

On a stage-1 config ``--out`` writes the seed masks (PNG), ``--tta`` switches the model to the
paper's multi-scale + flip maps; see :func:`mmseg_mctformer.cli.configure_test`. A
checkpoint that lacks keys of the config's model (another architecture) is refused before
anything runs.
``--crf`` scores an MMSeg segmentor with and without a dense CRF (the config key ``test_crf`` sets
it too), at one scale and, with ``--tta``, also at multi-scale + flip
(:func:`mmseg_mctformer.cli.test_crf_columns`). ``--format-only`` writes the predictions for
the VOC / COCO evaluation server under ``--out``
(:func:`mmseg_mctformer.cli.configure_format_only`).
"""
import argparse
import os

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.cli import (
    add_common_args,
    configure_format_only,
    configure_test,
    parse_with_local_rank,
    test_crf_columns,
)
from mmseg_mctformer.engine.runner import build_runner, close_process_group, load_config
from mmseg_mctformer.utils import check_checkpoint_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model (MMSeg-compatible)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='directory to save the predicted masks as PNG '
                        '(sets the evaluator output_dir, as in MMSeg; seed PNGs in stage 1)')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='directory where painted images will be saved, '
                        'relative to the work dir: {work_dir}/{show_dir}/vis_data/vis_image/')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation')
    parser.add_argument('--crf', action='store_true',
                        help='also score the predictions refined by a dense CRF (CPU workers); '
                        'with --tta the single-scale and the multi-scale + flip results')
    parser.add_argument('--crf-workers', type=int,
                        help='CPU processes for the CRF (default: test_crf.num_workers of the '
                        'config, else the number of CPUs)')
    parser.add_argument('--format-only', nargs='?', const='auto', choices=['auto', 'voc', 'coco'],
                        help='write the predictions in the layout of an evaluation server '
                        '(VOC: results/VOC2012/Segmentation/comp6_test_cls/*.png, COCO: '
                        'results/coco_seg_results.json) under --out instead of scoring them; '
                        'the server follows the test dataset unless named')
    add_common_args(parser)
    return parse_with_local_rank(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    if (args.crf or cfg.get('test_crf')) and not args.format_only:
        crf = dict(num_workers=args.crf_workers if args.crf_workers is not None else
                   (cfg.get('test_crf') or {}).get('num_workers', os.cpu_count()))
        return test_crf_columns(cfg, crf, tta=args.tta, out=args.out, show=args.show,
                                wait_time=args.wait_time, show_dir=args.show_dir)
    configure_test(cfg, out=None if args.format_only else args.out, show=args.show,
                   wait_time=args.wait_time, show_dir=args.show_dir, tta=args.tta)
    if args.format_only:
        configure_format_only(cfg, args.format_only, args.out)
    runner = build_runner(cfg)
    # mmengine loads with strict=False: refuse a checkpoint of another architecture
    check_checkpoint_file(runner.model, args.checkpoint)
    return runner.test()


if __name__ == '__main__':
    main()
    close_process_group()
