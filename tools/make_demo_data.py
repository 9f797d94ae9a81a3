"""Write the embedded demo dataset (Fashion-MNIST scenes, VOC layout).

Example::

    python tools/make_demo_data.py data/demo --num-train 2000 --num-val 300 --img-size 112
    python tools/make_demo_data.py data/demo_emoji --source emoji   # the second object source
    # geometric shapes of random colour on fractal or photo textures (only the shape tells the
    # class): shapes, shapes-photo, shapes-small (15-30 % of the side), shapes-10 (10 classes)
    python tools/make_demo_data.py data/shapes --source shapes --num-train 1000 --num-val 150
"""
import argparse
import time

from mmseg_mctformer.datasets.demo_generator import (
    EMOJI_FONT,
    FASHION_MNIST_DIR,
    OBJECT_SOURCES,
    generate_demo_dataset,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Generate the MCTformer+ demo dataset.')
    parser.add_argument('out_dir', help='output folder (VOC layout)')
    parser.add_argument('--num-train', type=int, default=2000, help='train scenes')
    parser.add_argument('--num-val', type=int, default=300, help='val scenes')
    parser.add_argument('--img-size', type=int, default=112, help='scene side in pixels')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--fashion-mnist-dir', default=FASHION_MNIST_DIR,
                        help='folder of the Fashion-MNIST *-ubyte.gz files')
    parser.add_argument('--source', choices=OBJECT_SOURCES, default='fashion-mnist',
                        help='object images: Fashion-MNIST (dataset-fashion-mnist), colour '
                        'emoji (fonts-noto-color-emoji), or random-colour geometric shapes on '
                        'fractal textures (shapes, shapes-small: objects 15-30%% of the side, '
                        'shapes-10: ten classes) or on photographs (shapes-photo: matplotlib '
                        'sample data)')
    parser.add_argument('--emoji-font', default=EMOJI_FONT, help='Noto Color Emoji font file')
    parser.add_argument('--force', action='store_true', help='regenerate even if complete')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    meta = generate_demo_dataset(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        img_size=args.img_size,
        seed=args.seed,
        fashion_mnist_dir=args.fashion_mnist_dir,
        force=args.force,
        source=args.source,
        emoji_font=args.emoji_font)
    if meta['generated']:
        print(f'Wrote {args.num_train} train + {args.num_val} val images to {args.out_dir} in '
              f'{time.perf_counter() - start:.1f} s')
    else:
        print(f'{args.out_dir} is complete (same parameters); nothing to do')


if __name__ == '__main__':
    main()
