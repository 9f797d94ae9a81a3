"""Seed generation (MCTformer+ localisation maps): sdpa path against the explicit reference.

Builds the DeiT-S MCTformer+ of ``configs/_base_/models/mctformer-plus_deit-s.py`` with random
weights (no checkpoint is read) and runs ``model.test_step`` one image at a time, as the reference
code does, on random images with two image labels. Each compared path lives in its own worker
process for the whole run (one process pair); the parent hands the images to the workers in
alternation (ABBA order), so that a change of machine load hits every path alike, and reports
medians. Paths (``--paths``, the last one is the reference of the ratios):

- ``sdpa``: the default ``test_cfg.attn_path='sdpa'`` (q / k + attention affinity, memory linear
  in the tokens; ``fused``, its old name, is accepted);
- ``explicit``: ``attn_path='explicit'``, every block's (C + M) x (C + M) attention built, as the
  authors' code does;
- a ``_bf16`` suffix (``sdpa_bf16``): the same under ``torch.autocast(dtype=torch.bfloat16)``.

Cases: ``--cases`` lists image sizes ``HxW``, run in that order; the main case (default 375x500,
VOC size) uses the config's test-time augmentation (its scales, each with its flip). ``--scaling``
adds single-scale, no-flip square images (default 250 ... 1000 px) that show how peak memory grows
with the number of tokens. Peak memory per case, read in one more untimed job per path (the timed
ones keep the allocator's steady state): CPU = the peak resident set size (``VmHWM``, reset through
``/proc/self/clear_refs`` after ``malloc_trim``) minus the RSS before that job; CUDA =
``torch.cuda.max_memory_allocated`` minus the memory allocated before it. ``seed_agreement``
= fraction of seed pixels equal to the reference path's. Speed is reported as wall-clock images/s
and as CPU seconds per image of the worker process (``time.process_time``; with ``--threads 1`` the
latter is the better measure on a loaded machine), ratios as ``speed_ratio`` (images/s over the
reference's) and ``cpu_time_ratio`` (reference CPU time over this path's). Prints one JSON object
(``--out`` also writes it).

Examples::

    python benchmarks/bench_seed_generation.py --num-images 2 --threads 1
    python benchmarks/bench_seed_generation.py --cases --scaling --num-images 1
    python benchmarks/bench_seed_generation.py --paths sdpa_bf16 sdpa --num-images 2
    python benchmarks/bench_seed_generation.py --device cuda --num-images 20
"""
import argparse
import json
import os.path as osp
import sys
import tempfile

from bench_workers import (  # benchmarks/ (the script's folder)
    MEMORY_NOTE,
    JobMeter,
    Worker,
    loadavg,
    median_job,
    pythonpath,
    rss_mb,
)
from json_output import emit_json

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODEL_CFG = osp.join(ROOT, 'configs', '_base_', 'models', 'mctformer-plus_deit-s.py')
BASE_PATHS = ('sdpa', 'explicit', 'fused')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark seed generation, sdpa vs explicit')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    parser.add_argument('--paths', nargs='+', default=['sdpa', 'explicit'],
                        help='compared paths; the last one is the reference of the ratios')
    parser.add_argument('--cases', nargs='*', default=['375x500'],
                        help='image sizes HxW with the config test-time augmentation')
    parser.add_argument('--scaling', nargs='*', type=int, default=None,
                        help='square sizes run at one scale without flip (memory vs tokens); '
                        'without values: 250 500 750 1000')
    parser.add_argument('--num-images', type=int, default=2, help='timed images per case')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed images per path before the first case')
    parser.add_argument('--scales', type=float, nargs='+', default=None,
                        help='test scales of the main cases (default: the config, 1.0 0.75 1.25)')
    parser.add_argument('--num-classes', type=int, default=20, help='foreground classes C')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads per worker (default: torch default)')
    parser.add_argument('--out', help='also write the JSON result here')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for path in args.paths:
        if path.removesuffix('_bf16') not in BASE_PATHS:
            parser.error(f'--paths: unknown path {path!r}, expected sdpa, explicit, '
                         'sdpa_bf16 or explicit_bf16')
    if args.scaling == []:
        args.scaling = [250, 500, 750, 1000]
    return args


# ------------------------------------------------------------------------------------ worker
def build_model(args, path):
    """The DeiT-S MCTformer+ of the base config with random weights, in eval mode."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import mmseg_mctformer  # noqa: F401

    cfg = Config.fromfile(MODEL_CFG).model
    cfg.backbone.init_cfg = None
    for key in ('backbone', 'cls_head', 'cam_head'):
        cfg[key].num_classes = args.num_classes
    cfg.test_cfg.attn_path = path.removesuffix('_bf16')
    cfg.test_cfg.max_tokens = None  # the large cases must run at their size
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    return model.to(args.device).eval()


def make_batch(num_classes, hw, seed):
    """One random uint8 image with metainfo and two image labels."""
    import torch
    from mmseg.structures import SegDataSample

    gen = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (3, *hw), dtype=torch.uint8, generator=gen)
    labels = torch.zeros(num_classes, dtype=torch.long)
    labels[torch.randperm(num_classes, generator=gen)[:2]] = 1
    sample = SegDataSample(metainfo=dict(img_shape=tuple(hw), ori_shape=tuple(hw)))
    sample.set_data(dict(gt_class_labels=labels))
    return dict(inputs=[img], data_samples=[sample])


def worker(args):
    """Serve jobs read from stdin (one JSON line each), answer one JSON line each."""
    import numpy as np
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)  # this benchmark process only
    torch.manual_seed(0)  # same random weights in every worker
    path = args.worker
    model = build_model(args, path)
    base_rss = rss_mb()[0]
    amp = torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16,
                         enabled=path.endswith('_bf16'))
    print(json.dumps(dict(ready=True, rss_after_model_mb=round(base_rss, 1))), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        model.test_cfg['scales'] = tuple(job['scales'])
        model.test_cfg['flip'] = job['flip']
        batch = make_batch(args.num_classes, job['hw'], job['seed'])
        with JobMeter(args.device, base_rss, memory=job.get('memory', True)) as meter, \
                torch.no_grad(), amp:
            out = model.test_step(batch)
            seeds = out[0].pred_sem_seg.data.cpu()
        if job.get('save'):
            np.save(job['save'], seeds.numpy())
        print(json.dumps(meter.result), flush=True)


# ------------------------------------------------------------------------------------ parent
def _cases(args, test_scales):
    cases = []
    for text in args.cases:
        try:
            h, w = (int(v) for v in text.lower().split('x'))
        except ValueError:
            raise SystemExit(f'--cases: expected HxW, got {text!r}') from None
        cases.append(dict(name=f'{h}x{w} tta', hw=[h, w], scales=test_scales, flip=True))
    for size in args.scaling or ():
        cases.append(dict(name=f'{size}x{size} single-scale', hw=[size, size], scales=[1.0],
                          flip=False))
    return cases


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    import numpy as np
    import torch
    from mmengine.config import Config
    argv = list(argv if argv is not None else sys.argv[1:])
    test_scales = list(args.scales or Config.fromfile(MODEL_CFG).model.test_cfg.scales)
    cases = _cases(args, test_scales)
    load_start = loadavg()
    workers = [Worker(path, [sys.executable, osp.abspath(__file__), '--worker', path] + argv,
                      ROOT, env=dict(PYTHONPATH=pythonpath(ROOT))) for path in args.paths]
    ref = args.paths[-1]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            job = dict(hw=case['hw'], scales=case['scales'], flip=case['flip'])
            for i in range(args.warmup if case is cases[0] else 0):
                for w in workers:
                    w.run(dict(job, seed=10_000 + i, memory=False))
            runs = {w.name: [] for w in workers}
            agree = {w.name: [] for w in workers}
            for i in range(args.num_images):
                order = workers if i % 2 == 0 else workers[::-1]  # ABBA
                saved = {}
                for w in order:
                    saved[w.name] = osp.join(tmp, f'{w.name}.npy')
                    runs[w.name].append(w.run(dict(job, seed=i, save=saved[w.name],
                                                   memory=False)))
                ref_seeds = np.load(saved[ref])
                for path, file in saved.items():
                    agree[path].append(float((np.load(file) == ref_seeds).mean()))
            # memory: one more job each, untimed, after the heap's free pages went back to the OS
            peaks = {w.name: w.run(dict(job, seed=0, memory=True))['peak_mem_mb']
                     for w in workers}
            tokens = [int(s * case['hw'][0] / 16 + 0.5) * int(s * case['hw'][1] / 16 + 0.5)
                      for s in case['scales']]  # patch 16 (DeiT-S)
            entry = dict(case=case['name'], image_hw=case['hw'], scales=case['scales'],
                         flip=case['flip'], max_patch_tokens=max(tokens))
            for path, rs in runs.items():
                sec, cpu = median_job(rs)
                entry[path] = dict(
                    images_per_s=round(1 / sec, 4), s_per_image=round(sec, 3),
                    cpu_s_per_image=round(cpu, 3), peak_mem_mb=round(peaks[path], 1),
                    runs_s=[round(r['seconds'], 3) for r in rs],
                    seed_agreement=round(min(agree[path]), 6))
            for path in runs:
                if path != ref:
                    entry[f'{path}_vs_{ref}'] = dict(
                        speed_ratio=round(entry[path]['images_per_s'] /
                                          entry[ref]['images_per_s'], 3),
                        cpu_time_ratio=round(entry[ref]['cpu_s_per_image'] /
                                             max(entry[path]['cpu_s_per_image'], 1e-9), 3),
                        memory_ratio=round(entry[path]['peak_mem_mb'] /
                                           max(entry[ref]['peak_mem_mb'], 1e-9), 3))
            results.append(entry)
    for w in workers:
        w.close()
    summary = dict(
        device=args.device, torch=torch.__version__,
        threads=args.threads or torch.get_num_threads(),
        model='MCTformer+ DeiT-S (random weights), C=%d' % args.num_classes,
        paths=args.paths, reference=ref, num_images=args.num_images, warmup=args.warmup,
        rss_after_model_mb={w.name: w.info['rss_after_model_mb'] for w in workers},
        memory=MEMORY_NOTE,
        loadavg_start=load_start, loadavg_end=loadavg(),
        cases=results)
    emit_json(summary, args.out)


if __name__ == '__main__':
    main()
