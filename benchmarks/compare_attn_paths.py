"""Seeds of a trained checkpoint through two inference paths, image by image, in one process.

Runs ``model.test_step`` on every image of a split twice: with ``test_cfg.attn_path='sdpa'``
(default, no N x N matrix) and with the ``'explicit'`` reference (or, with ``--bf16``, the sdpa
path under CPU/CUDA bfloat16 autocast against the sdpa float32 path), alternating the order, and
prints one JSON object: images, seed pixels that differ, the largest difference of ``seg_logits``
and the seconds spent in each path. Example (the README demo checkpoint)::

    python benchmarks/compare_attn_paths.py configs/mctformer_plus_demo.py \\
        work_dirs/demo/stage1/epoch_2.pth --split val
"""
import argparse
import json
import time

import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, load_checkpoint
from mmseg.registry import MODELS

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.engine.runner import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Seeds of the sdpa vs the explicit path')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', default='val', choices=['val', 'train'],
                        help="val: test_dataloader; train: pseudo_label_dataloader")
    parser.add_argument('--max-images', type=int, default=None)
    parser.add_argument('--bf16', action='store_true',
                        help='compare sdpa under bfloat16 autocast with sdpa float32')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config)
    key = 'pseudo_label_dataloader' if args.split == 'train' else 'test_dataloader'
    if key not in cfg:
        raise SystemExit(f'compare_attn_paths: {args.config} has no {key}')
    loader_cfg = dict(cfg[key], batch_size=1, num_workers=0, persistent_workers=False)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
        loader = Runner.build_dataloader(loader_cfg)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to(args.device).eval()
    device_type = torch.device(args.device).type
    if args.bf16:
        paths = dict(sdpa_bf16=('sdpa', True), sdpa=('sdpa', False))
    else:
        paths = dict(sdpa=('sdpa', False), explicit=('explicit', False))
    names = list(paths)
    seconds = dict.fromkeys(names, 0.0)
    images = pixels = differing = 0
    max_diff = 0.0
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if args.max_images is not None and i >= args.max_images:
                break
            out = {}
            for name in (names if i % 2 == 0 else names[::-1]):
                attn_path, bf16 = paths[name]
                model.test_cfg['attn_path'] = attn_path
                start = time.perf_counter()
                with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
                    out[name] = model.test_step(batch)[0]
                seconds[name] += time.perf_counter() - start
            a, b = (out[n] for n in names)
            pixels += a.pred_sem_seg.data.numel()
            differing += int((a.pred_sem_seg.data != b.pred_sem_seg.data).sum())
            max_diff = max(max_diff, float((a.seg_logits.data - b.seg_logits.data).abs().max()))
            images += 1
    print(json.dumps(dict(
        config=args.config, checkpoint=args.checkpoint, split=args.split, paths=names,
        images=images, seed_pixels=pixels, differing_seed_pixels=differing,
        max_abs_diff_seg_logits=max_diff,
        seconds={k: round(v, 2) for k, v in seconds.items()})))


if __name__ == '__main__':
    main()
