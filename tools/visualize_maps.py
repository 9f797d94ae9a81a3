"""Draw localisation maps over the input images: seed overlay, GT overlay, one heatmap per class.

Example::

    python tools/visualize_maps.py CONFIG CHECKPOINT --out work_dirs/x/maps --num 16
"""
import argparse

import mmseg_mctformer  # noqa: F401  (registers the plugin and the ``mmseg::`` config scope)
from mmseg_mctformer.cli import SPLIT_KEYS, add_common_args, parse_with_local_rank, visualize_maps
from mmseg_mctformer.engine.runner import close_process_group, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Visualise class localisation maps')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output folder of the drawn strips')
    parser.add_argument('--num', type=int, default=8, help='number of images')
    parser.add_argument('--max-maps', type=int, help='most class heatmaps per image')
    parser.add_argument('--split', choices=sorted(SPLIT_KEYS),
                        help='split (default: pseudo_label_dataloader, else test)')
    add_common_args(parser)
    return parse_with_local_rank(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    files = visualize_maps(cfg, args.checkpoint, args.out, num=args.num, split=args.split,
                           max_maps=args.max_maps)
    print(f'wrote {len(files)} images to {args.out}')


if __name__ == '__main__':
    main()
    close_process_group()
