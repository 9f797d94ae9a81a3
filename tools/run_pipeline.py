"""The whole WSSS pipeline in one command, resumable stage by stage.

    python tools/run_pipeline.py configs/mctformer_plus_voc.py \
        --seg-config \\
        configs/deeplabv3plus/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py \
        --work-dir work_dirs/voc_pipeline

Stage 1 training -> seeds (mAP, seed mIoU) -> pseudo-masks -> their mIoU -> (with --aff-config:
AffinityNet on the stage-1 maps -> random-walk masks -> their mIoU) -> segmentor training -> val
mIoU, then a table beside the paper's VOC numbers (also in WORK_DIR/results.md).

``--seeds 0 1 2`` runs the whole pipeline once a seed (``randomness.seed`` of every stage) in
WORK_DIR/seed{N} and writes mean ± std over the runs, with the per-run numbers, to
WORK_DIR/results.md (:mod:`mmseg_mctformer.pipeline.aggregate_runs`).
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.cli import add_common_args, parse_with_local_rank
from mmseg_mctformer.engine.runner import close_process_group
from mmseg_mctformer.pipeline import WeakStage1Error, WSSSPipeline, write_aggregate


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Run stage 1 -> pseudo-labels -> segmentor')
    parser.add_argument('config', help='stage-1 (MCTformer) config')
    parser.add_argument('--seg-config', required=True,
                        help='segmentor config (configs/deeplabv3plus/)')
    parser.add_argument('--seg-cfg-options', nargs='+', action=DictAction,
                        help='overrides for the segmentor config, xxx=yyy')
    parser.add_argument('--aff-config',
                        help='AffinityNet config (configs/affinity/): adds the affinity and '
                        'random-walk mask stages (PSA); the segmentor then trains on the masks')
    parser.add_argument('--aff-cfg-options', nargs='+', action=DictAction,
                        help='overrides for the affinity config, xxx=yyy')
    parser.add_argument('--gt-baseline', action='store_true',
                        help='also train the segmentor on the GT masks (upper bound)')
    parser.add_argument('--allow-gt-masks', action='store_true',
                        help='let the segmentation stage train on masks that are the ground '
                        'truth (refused otherwise; its row is then labelled as such)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision for the trainings; on a CPU (bf16) also for the '
                        'maps, validations and random walk')
    parser.add_argument('--seeds', type=int, nargs='+',
                        help='run the pipeline once a seed in WORK_DIR/seed{N}, then write mean '
                        '± std over the runs to WORK_DIR/results.md')
    parser.add_argument('--allow-weak-stage1', action='store_true',
                        help='go on when stage 1 has not learned (classification mAP near the '
                        'labels\' base rate, or the best seed threshold at the sweep\'s edge); '
                        'without it the pipeline stops before the pseudo-masks')
    add_common_args(parser)
    args = parse_with_local_rank(parser, argv)
    if args.work_dir is None:
        parser.error('--work-dir is required (the pipeline keeps its state there)')
    return args


def run(args, work_dir, seed=None):
    """One pipeline run; ``seed`` sets ``randomness.seed`` of every stage."""
    seeded = {} if seed is None else {'randomness.seed': seed}
    return WSSSPipeline(
        args.config, args.seg_config, work_dir,
        cfg_options=dict(args.cfg_options or {}, **seeded),
        seg_cfg_options=dict(args.seg_cfg_options or {}, **seeded),
        gt_baseline=args.gt_baseline, launcher=args.launcher, amp=args.amp,
        aff_config=args.aff_config,
        aff_cfg_options=dict(args.aff_cfg_options or {}, **seeded) if args.aff_config else None,
        allow_gt_masks=args.allow_gt_masks, allow_weak_stage1=args.allow_weak_stage1).run()


def main(argv=None):
    args = parse_args(argv)
    try:
        if not args.seeds:
            return run(args, args.work_dir)
        runs = [osp.join(args.work_dir, f'seed{seed}') for seed in args.seeds]
        for seed, work_dir in zip(args.seeds, runs):
            run(args, work_dir, seed)
    except WeakStage1Error as err:
        sys.exit(f'run_pipeline: {err}')
    return write_aggregate(runs, args.work_dir, args.config)


if __name__ == '__main__':
    try:
        main()
    finally:
        close_process_group()
