"""Remap the class values of a mask folder (another numbering, or a subset of the classes).

    # keep VOC's cat (8) and dog (12) as classes 1 and 2, every other class as background
    python tools/dataset_converters/remap_masks.py data/VOCdevkit/VOC2012/SegmentationClassAug \
        data/catdog/SegmentationClass --map 0:0 8:1 12:2 255:255 --unmapped background
"""
import argparse

from mmseg_mctformer.datasets.converters.remap import UNMAPPED, parse_mapping, remap_masks


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Remap the class values of a folder of masks')
    parser.add_argument('src_dir', help='folder of the masks (palette or grey-scale PNG)')
    parser.add_argument('dst_dir', help='output folder of the remapped masks')
    parser.add_argument('--map', nargs='+', required=True, metavar='OLD:NEW',
                        help='value pairs, e.g. 0:0 8:1 12:2 255:255')
    parser.add_argument('--unmapped', choices=UNMAPPED, default='error',
                        help='what a value missing from --map becomes (default: an error naming '
                        'the file)')
    parser.add_argument('--split', help='only the masks named in this split file (one per line)')
    parser.add_argument('--overwrite', action='store_true',
                        help='rewrite existing outputs (default: keep them and resume)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    names = None
    if args.split:
        with open(args.split) as f:
            names = [line.strip() for line in f if line.strip()]
    counts = remap_masks(args.src_dir, args.dst_dir, parse_mapping(args.map), args.unmapped,
                         names=names, overwrite=args.overwrite)
    print(f"{counts['written']} masks written, {counts['skipped']} kept -> {args.dst_dir}")


if __name__ == '__main__':
    main()
