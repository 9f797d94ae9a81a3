"""Speed and peak memory of seed generation (MCTformer+ localisation maps) per image.

Builds the DeiT-S MCTformer+ of ``configs/_base_/models/mctformer_plus_deit-s.py`` with random
weights (no checkpoint is read), and runs ``model.test_step`` one image at a time, as the reference
code does, on random VOC-sized images (default 375 x 500) with two image labels, at 4 scales + flip
(the config's test_cfg). Reported as JSON: images/s, s/image and peak memory, measured in a fresh
subprocess so that the numbers are its own: CPU = peak resident set size (``ru_maxrss``) of that
subprocess, CUDA = ``torch.cuda.max_memory_allocated`` during inference.

Example::

    python benchmarks/bench_seed_generation.py --device cpu --num-images 2 --out bench.json
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODEL_CFG = osp.join(ROOT, 'configs', '_base_', 'models', 'mctformer_plus_deit-s.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark seed generation (maps + seeds)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    parser.add_argument('--num-images', type=int, default=4, help='timed images')
    parser.add_argument('--warmup', type=int, default=1, help='untimed images first')
    parser.add_argument('--height', type=int, default=375, help='image height')
    parser.add_argument('--width', type=int, default=500, help='image width')
    parser.add_argument('--scales', type=float, nargs='+', default=None,
                        help='test scales (default: the config, 1.0 0.5 1.5 2.0)')
    parser.add_argument('--no-flip', action='store_true', help='no horizontal-flip forward')
    parser.add_argument('--num-classes', type=int, default=20, help='foreground classes C')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads in the worker (default: torch default)')
    parser.add_argument('--out', help='also write the JSON result here')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_model(args):
    """The DeiT-S MCTformer+ of the base config with random weights, in eval mode."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import mmseg_mctformer  # noqa: F401

    cfg = Config.fromfile(MODEL_CFG).model
    cfg.backbone.init_cfg = None
    for key in ('backbone', 'cls_head', 'cam_head'):
        cfg[key].num_classes = args.num_classes
    if args.scales is not None:
        cfg.test_cfg.scales = tuple(args.scales)
    if args.no_flip:
        cfg.test_cfg.flip = False
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    return model.to(args.device).eval(), dict(cfg.test_cfg)


def make_batch(args, seed):
    """One random uint8 image with metainfo and two image labels."""
    import torch
    from mmseg.structures import SegDataSample

    gen = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (3, args.height, args.width), dtype=torch.uint8, generator=gen)
    labels = torch.zeros(args.num_classes, dtype=torch.long)
    labels[torch.randperm(args.num_classes, generator=gen)[:2]] = 1
    shape = (args.height, args.width)
    sample = SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
    sample.set_data(dict(gt_class_labels=labels))
    return dict(inputs=[img], data_samples=[sample])


def worker(args):
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)  # this benchmark process only
    cuda = args.device.startswith('cuda')
    model, test_cfg = build_model(args)
    rss_model_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with torch.no_grad():
        for i in range(args.warmup):
            model.test_step(make_batch(args, 1000 + i))
        if cuda:
            torch.cuda.synchronize(args.device)
            torch.cuda.reset_peak_memory_stats(args.device)
        batches = [make_batch(args, i) for i in range(args.num_images)]
        start = time.perf_counter()
        for batch in batches:
            out = model.test_step(batch)
            out[0].pred_sem_seg.data.cpu()
        if cuda:
            torch.cuda.synchronize(args.device)
        elapsed = time.perf_counter() - start
    result = dict(
        device=torch.cuda.get_device_name(args.device) if cuda else 'cpu',
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        model='MCTformer+ DeiT-S (random weights)',
        num_classes=args.num_classes,
        image_hw=[args.height, args.width],
        scales=list(test_cfg['scales']),
        flip=bool(test_cfg['flip']),
        map_type=test_cfg.get('map_type'),
        num_images=args.num_images,
        seconds=round(elapsed, 3),
        images_per_s=round(args.num_images / elapsed, 4),
        s_per_image=round(elapsed / args.num_images, 3),
    )
    if cuda:
        result['peak_cuda_allocated_mb'] = round(
            torch.cuda.max_memory_allocated(args.device) / 2**20, 1)
    else:
        result['rss_after_model_build_mb'] = round(rss_model_mb, 1)
    result['peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    cmd = [sys.executable, osp.abspath(__file__), '--worker'] + (argv if argv is not None
                                                                 else sys.argv[1:])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f'benchmark worker failed with exit code {proc.returncode}')
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
