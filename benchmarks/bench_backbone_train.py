"""Training throughput and peak memory of MultiClassTokenViT: sdpa vs explicit attention path.

    python benchmarks/bench_backbone_train.py --device cpu --batch-size 8 --iters 3

One train step = forward (``attn_path=None``: ``F.scaled_dot_product_attention``;
``attn_path='explicit'``: explicit softmax attention kept for every block) + multilabel soft-margin
loss on the class-token scores (mean over D) and on a 3x3-conv PatchCAM score (GAP) + backward +
AdamW step, DeiT-S, C = 20 classes. Each path runs in a fresh subprocess so that its peak memory is
its own: on CUDA ``torch.cuda.max_memory_allocated`` over what is allocated after a warm-up step;
on CPU the growth of the process's peak RSS (``resource.getrusage``) over its RSS before the first
step (so it also counts gradients and AdamW state, the same for both paths).
Prints one JSON object.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

PATHS = ('sdpa', 'explicit')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:i]')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--iters', type=int, default=3, help='timed steps (after 1 warm-up)')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--arch', default='deit-small')
    parser.add_argument('--num-classes', type=int, default=20)
    parser.add_argument('--amp', action='store_true', help='bfloat16 autocast')
    parser.add_argument('--repeats', type=int, default=1,
                        help='alternate sdpa/explicit workers this many times; report medians')
    parser.add_argument('--worker', choices=PATHS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_worker(args):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from mmseg_mctformer.models.backbones import MultiClassTokenViT

    device = torch.device(args.device)
    torch.manual_seed(0)
    backbone = MultiClassTokenViT(arch=args.arch, num_classes=args.num_classes).to(device)
    cam = nn.Conv2d(backbone.embed_dims, args.num_classes, 3, padding=1).to(device)
    params = list(backbone.parameters()) + list(cam.parameters())
    optimizer = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.05)
    x = torch.randn(args.batch_size, 3, args.img_size, args.img_size, device=device)
    labels = (torch.rand(args.batch_size, args.num_classes, device=device) < 0.2).float()
    attn_path = 'explicit' if args.worker == 'explicit' else None
    backbone.train()

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            out = backbone(x, attn_path=attn_path)
            cls_score = out.cls_token.mean(-1)  # (B, C)
            cam_score = cam(out.patch_tokens).mean((2, 3))  # (B, C)
        loss = (F.multilabel_soft_margin_loss(cls_score.float(), labels) +
                F.multilabel_soft_margin_loss(cam_score.float(), labels))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    base_rss = _rss_kib()  # CPU: glibc keeps freed pages, so measure before the first step
    step()  # warm-up: allocates gradients and the AdamW state
    sync()
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    start = time.perf_counter()
    for _ in range(args.iters):
        step()
    sync()
    seconds = time.perf_counter() - start
    if device.type == 'cuda':
        peak_mib = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        kind = 'cuda max_memory_allocated - allocated before the timed steps'
    else:
        peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024
        kind = ('peak RSS growth over the RSS before the first step (includes gradients and '
                'AdamW state, the same for both paths)')
    result = dict(path=args.worker, images_per_s=args.batch_size * args.iters / seconds,
                  seconds_per_step=seconds / args.iters, peak_mem_mib=peak_mib, mem_kind=kind,
                  threads=torch.get_num_threads())
    print(json.dumps(result))


def _rss_kib():
    """Current resident set size in KiB (Linux /proc)."""
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return
    runs = {path: [] for path in PATHS}
    for _ in range(args.repeats):  # alternating, so that load changes hit both paths alike
        for path in PATHS:
            cmd = [sys.executable, __file__, '--worker', path] + (argv if argv is not None
                                                                   else sys.argv[1:])
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode:
                raise RuntimeError(f'bench_backbone_train: {path} worker failed:\n{proc.stderr}')
            runs[path].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    results = {}
    for path, rs in runs.items():
        rs = sorted(rs, key=lambda r: r['images_per_s'])
        results[path] = dict(rs[len(rs) // 2], runs_images_per_s=[r['images_per_s'] for r in rs],
                             runs_peak_mem_mib=[r['peak_mem_mib'] for r in rs])
    sdpa, explicit = results['sdpa'], results['explicit']
    summary = dict(
        config=dict(device=args.device, batch_size=args.batch_size, iters=args.iters,
                    img_size=args.img_size, arch=args.arch, num_classes=args.num_classes,
                    amp=args.amp, repeats=args.repeats),
        sdpa=sdpa, explicit=explicit,
        speedup_sdpa=sdpa['images_per_s'] / explicit['images_per_s'],
        memory_ratio_sdpa=sdpa['peak_mem_mib'] / max(explicit['peak_mem_mib'], 1e-9))
    print(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
