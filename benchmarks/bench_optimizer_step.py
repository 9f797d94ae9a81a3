"""The AdamW step of MCTformer+ stage 1: fused (the configs) against torch's loops.

    python benchmarks/bench_optimizer_step.py --threads 1

Builds DeiT-S MCTformer+ (``configs/_base_/models/mctformer-plus_deit-s.py``, 20 classes, random
weights) and its optimizer as ``configs/mctformer_plus_voc.py`` does (mmengine's constructor, the
config's parameter groups), once with ``fused=True`` (the configs), once with ``foreach=True`` and
once with ``foreach=False`` (the per-tensor loop, torch's choice on a CPU). Where the installed
PyTorch has no fused AdamW for the device (a CPU before torch 2.4) the fused variant is left out
and its speed-ups are ``null``. Every parameter gets a
random gradient; ``optimizer.step()`` is timed ``--iters`` times after ``--warmup`` steps, the
variants alternated, medians reported (CUDA synchronised). The parameters also tell how far the
steps moved them (``max_abs_update``) and how far the variants drift apart. Prints one JSON object.
"""
import argparse
import copy
import statistics
import time
import types

from bench_seed_generation import build_model
from bench_vs_authors import stage1_optim_wrapper
from json_output import emit_json

VARIANTS = {'fused': dict(fused=True), 'foreach': dict(fused=None, foreach=True),
            'per_tensor': dict(fused=None, foreach=False)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:i]')
    parser.add_argument('--iters', type=int, default=20, help='timed steps per variant')
    parser.add_argument('--warmup', type=int, default=3, help='untimed steps per variant')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--out', help='also write the JSON here')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be at least 1 and --warmup at least 0')
    return args


def build(device):
    """Our MCTformer+ and one AdamW per variant over a copy of it.

    Returns:
        tuple: the untouched model and ``{name: (copy, optimizer)}``.
    """
    import torch
    model = build_model(types.SimpleNamespace(num_classes=20, device=device), 'fused')
    built = {}
    for name, flags in VARIANTS.items():
        clone = copy.deepcopy(model)
        gen = torch.Generator(device=device).manual_seed(0)  # the same gradients for each
        for p in clone.parameters():
            p.grad = torch.randn(p.shape, generator=gen, device=device) * 1e-3
        optimizer = stage1_optim_wrapper(clone, dict(type='OptimWrapper'), **flags).optimizer
        if flags.get('fused') and not optimizer.defaults.get('fused'):
            continue  # no fused kernel for the device (CPU before torch 2.4): nothing to time
        built[name] = (clone, optimizer)
    return model, built


def max_diff(a, b):
    """Largest absolute difference between the parameters of two copies of a model."""
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def main(argv=None):
    args = parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    initial, built = build(device)
    times = {name: [] for name in built}
    for i in range(args.warmup + args.iters):
        for name, (_, optimizer) in built.items():
            sync()
            tic = time.perf_counter()
            optimizer.step()
            sync()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - tic)
    ref = built['per_tensor'][0]
    drift = {name: max_diff(model, ref)
             for name, (model, _) in built.items() if name != 'per_tensor'}
    num_params = sum(p.numel() for p in ref.parameters())
    num_tensors = sum(1 for _ in ref.parameters())
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    emit_json(dict(
        device=str(device), torch=torch.__version__, threads=torch.get_num_threads(),
        parameters=num_params, tensors=num_tensors, steps=args.warmup + args.iters,
        step_ms={name: round(m * 1e3, 2) for name, m in medians.items()},
        speedup_fused_vs_per_tensor=(round(medians['per_tensor'] / medians['fused'], 2)
                                     if 'fused' in medians else None),
        speedup_fused_vs_foreach=(round(medians['foreach'] / medians['fused'], 2)
                                  if 'fused' in medians else None),
        max_abs_update=max_diff(initial, ref), max_abs_drift_vs_per_tensor=drift), args.out)


if __name__ == '__main__':
    main()
