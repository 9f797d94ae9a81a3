"""Evaluate seeds: mIoU over a sweep of background thresholds (+ FP/FN) and classification mAP.

Two modes::

    # run the model over a split (default: pseudo_label_dataloader, else test_dataloader)
    python tools/eval_seeds.py CONFIG CHECKPOINT [--split train] [--thresholds 0.3 0.4 0.5]
    # score masks already written (e.g. by make_pseudo_labels.py) against the split's GT masks
    python tools/eval_seeds.py CONFIG --pred-dir work_dirs/x/pseudo_labels

The JSON summary is printed (and written to ``--out`` when given). Every scalar is also given under
a split-named key (``seed/train_aug/mIoU``; ``mask/{split}/mIoU`` with ``--pred-dir``), the split
being the dataset's ``ann_file`` name (:mod:`mmseg_mctformer.evaluation.metric_names`).
"""
import argparse

from mmengine.fileio import dump

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.cli import (
    SPLIT_KEYS,
    add_common_args,
    evaluate_pred_dir,
    evaluate_seeds,
    parse_with_local_rank,
    split_dataloader,
)
from mmseg_mctformer.engine.runner import close_process_group, load_config
from mmseg_mctformer.evaluation.metric_names import add_split_keys, split_name


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate seeds (threshold sweep) and mAP')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file (not with --pred-dir)')
    parser.add_argument('--split', choices=sorted(SPLIT_KEYS),
                        help='split (default: pseudo_label_dataloader, else test)')
    parser.add_argument('--thresholds', type=float, nargs='+',
                        help='background thresholds to sweep (default: 0.00, 0.05, ..., 0.95)')
    parser.add_argument('--pred-dir', help='evaluate the PNG masks of this folder instead')
    parser.add_argument('--map-types', nargs='+', metavar='TYPE',
                        help='evaluate each of these model.test_cfg.map_type values (the paper\'s '
                        'Table 7 ablation: mct mct_affinity patchcam fused fused_affinity)')
    parser.add_argument('--out', help='also write the JSON summary to this file')
    add_common_args(parser)
    args = parse_with_local_rank(parser, argv)
    if (args.checkpoint is None) == (args.pred_dir is None):
        parser.error('give either CHECKPOINT or --pred-dir (exactly one)')
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    split = split_name(split_dataloader(cfg, args.split), args.split)
    if args.pred_dir is not None:
        result = add_split_keys(evaluate_pred_dir(cfg, args.pred_dir, split=args.split), split,
                                task='mask')
    elif args.map_types:
        result = {}
        for map_type in args.map_types:
            cfg.model.test_cfg['map_type'] = map_type
            result[map_type] = add_split_keys(evaluate_seeds(
                cfg, args.checkpoint, split=args.split, thresholds=args.thresholds), split)
    else:
        result = add_split_keys(evaluate_seeds(cfg, args.checkpoint, split=args.split,
                                               thresholds=args.thresholds), split)
    text = dump(result, file_format='json', indent=2)  # NaN (a class never seen) stays NaN
    print(text)
    if args.map_types:
        print(f'| map_type | seed mIoU ({split}) | best threshold | FP | FN | precision | '
              'recall |')
        print('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
        for map_type, metrics in result.items():
            print(f"| {map_type} | {metrics['seed/mIoU']:.1f} | "
                  f"{metrics['seed/best_threshold']:.2f} | {metrics['seed/FP']:.1f} | "
                  f"{metrics['seed/FN']:.1f} | {metrics['seed/precision']:.1f} | "
                  f"{metrics['seed/recall']:.1f} |")
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return result


if __name__ == '__main__':
    main()
    close_process_group()
