"""MS COCO 2014 instances -> masks (0..80, 255 ignore), split files and image-level labels.

    python tools/dataset_converters/coco2014_wsss.py data/coco -o data/coco2014 --nproc 8

Reads ``data/coco/annotations/instances_{train,val}2014.json`` and links the images of
``data/coco/{train,val}2014``; the mask rule: ``mmseg_mctformer.datasets.converters.coco2014``.
"""
import argparse

from mmseg_mctformer.datasets.converters.coco2014 import SPLITS, convert_coco2014


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert MS COCO 2014 instance annotations for WSSS (COCOWSSSDataset)')
    parser.add_argument('coco_root', help='folder with annotations/instances_{train,val}2014.json '
                        'and the image folders train2014/, val2014/')
    parser.add_argument('-o', '--out-dir', default='data/coco2014',
                        help='output data root (default: data/coco2014, the configs\' data_root)')
    parser.add_argument('--splits', nargs='+', choices=SPLITS, default=list(SPLITS),
                        help='splits to convert')
    parser.add_argument('--no-link-images', action='store_true',
                        help='do not link the images into OUT_DIR/JPEGImages')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    parser.add_argument('--subset-size', type=int, default=5000,
                        help='images of ImageSets/train_5k.txt, the stage-1 validation subset '
                        '(0: none)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the subset')
    parser.add_argument('--overwrite', action='store_true',
                        help='rewrite existing masks (default: keep them and resume)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    counts = convert_coco2014(args.coco_root, args.out_dir, args.splits,
                              link_images=not args.no_link_images, nproc=args.nproc,
                              subset_size=args.subset_size, seed=args.seed,
                              overwrite=args.overwrite)
    for split, num in counts.items():
        print(f'{split}: {num} images with annotations -> {args.out_dir}/ImageSets/{split}.txt')


if __name__ == '__main__':
    main()
