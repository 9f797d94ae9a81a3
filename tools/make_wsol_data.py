"""Write a split of a VOC-layout segmentation dataset in the WSOL (wsolevaluation) layout.

Every (image, class) pair becomes one single-label entry with that class's mask, so that a
multi-label dataset (the demo) can be evaluated with ``OpenImagesWSOLDataset`` + ``PxAPMetric``.

Example::

    python tools/make_wsol_data.py data/demo data/demo_wsol --split val
    python tools/test.py \\
        configs/mctformer/mctformer-plus_dinov2-s_1xb32-2e_demo-wsol-112x112.py CKPT
"""
import argparse
import os.path as osp
import time

from mmseg.registry import DATASETS

import mmseg_mctformer  # noqa: F401  (registers the datasets)
from mmseg_mctformer.datasets import convert_seg_to_wsol


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Segmentation split -> WSOL layout.')
    parser.add_argument('src', help='VOC-layout data root (JPEGImages, SegmentationClassAug, '
                        'ImageSets/Segmentation/<split>.txt)')
    parser.add_argument('out', help='output data root (OpenImages/, metadata/OpenImages/)')
    parser.add_argument('--split', default='val', help='split file name and output split')
    parser.add_argument('--dataset', default='DemoWSSSDataset',
                        help='registered dataset whose METAINFO classes name the class folders')
    parser.add_argument('--img-dir', default='JPEGImages', help='image folder under src')
    parser.add_argument('--seg-dir', default='SegmentationClassAug', help='mask folder under src')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    classes = DATASETS.get(args.dataset).METAINFO['classes'][1:]
    split_file = osp.join(args.src, 'ImageSets', 'Segmentation', f'{args.split}.txt')
    with open(split_file) as f:
        names = f.read().split()
    start = time.perf_counter()
    num = convert_seg_to_wsol([osp.join(args.src, args.img_dir, n + '.jpg') for n in names],
                              [osp.join(args.src, args.seg_dir, n + '.png') for n in names],
                              classes, args.out, split=args.split)
    print(f'Wrote {num} (image, class) entries of {len(names)} images to {args.out} in '
          f'{time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
