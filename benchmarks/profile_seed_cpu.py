"""Where the CPU time of one image's seeds goes: our ``test_step`` (and the authors' map loop).

Runs seed generation for one random uint8 ``HxW`` image at the config's test scales, each with
its flip (``configs/_base_/models/mctformer-plus_deit-s.py``: the authors' resize, fused
attention path), under ``torch.profiler`` and splits its CPU time into shares:

- ``linear``: the ViT's ``nn.Linear`` layers (qkv, proj, fc1, fc2) and the patch embedding;
  the same FLOPs as the authors' DeiT-S on the same token grids;
- ``attention``: the backbone's attention (``F.scaled_dot_product_attention``, or the explicit
  ``q k^T`` / softmax / ``attn v`` in the authors' code);
- ``class_attention``: the class-token rows of the attention (our fused path only);
- ``other_backbone``: LayerNorm, GELU, residual adds, position-embedding resize, reshapes;
- ``heads``: class-token head and PatchCAM conv;
- ``affinity_refinement``: the patch-affinity refinement (ours: attention with the maps as values,
  :func:`~mmseg_mctformer.models.utils.localization.refine_with_attention_affinity`; theirs: the
  sum of the per-layer patch attention and one matmul);
- ``maps``: class-to-patch averaging and the fusion with PatchCAM;
- ``resize``: the per-scale PIL bicubic resize and normalisation (ours; theirs is done by their
  data loader, outside the timed loop), with the uint8 recovery of the input;
- ``normalisation``: the data preprocessor (uint8 to the normalised float batch);
- ``upsample_sum``: upsampling the token maps to the image and summing scales and flips;
- ``seed``: min-max normalisation, seed labels and the output fields;
- ``python``: time outside every ATen operator (interpreter, mmengine structures, profiler).

Regions are marked by wrapping the model's methods and functions with ``record_function`` in
this script only; the model code is not changed (a method this script names and the model no
longer has is listed in ``unmarked_regions``, its time counted where its caller's goes). The
authors' side (``--side theirs``, a checkout given by ``--authors-repo``): their model's
``forward_features`` / ``patch_embed`` / ``head`` / attention modules are marked the same way, the
rest of their ``forward`` (GWRP, the stack of every layer's attention, its head mean, the fusion)
is ``maps``, and their map loop outside the model is split by operator names. The profiler's
per-operator overhead inflates ``python``; ``unprofiled_cpu_s`` is the same job timed without it
(median of ``--repeats``). Per share: ``ms`` (profiled time per image; the profiler's clock is
wall time), ``share`` (its fraction), ``cpu_s`` (that fraction of ``unprofiled_cpu_s``) and, for
the matrix products, ``gflop`` (counted from the token grids, :func:`share_gflop`) and
``gflop_per_cpu_s``. Prints one JSON object.

Example::

    python benchmarks/profile_seed_cpu.py --threads 1
    python benchmarks/profile_seed_cpu.py --side theirs --authors-repo ../MCTformer \\
        --authors-pythonpath /tmp/authors_site --threads 1
    python benchmarks/profile_seed_cpu.py --refinement-alternatives --threads 1
"""
import argparse
import collections
import functools
import os.path as osp
import statistics
import sys
import time

import bench_vs_authors as bva  # benchmarks/ (the script's folder)
from json_output import emit_json

LINEAR_OPS = ('aten::linear', 'aten::addmm', 'aten::mm', 'aten::t')
MATMUL_OPS = ('aten::matmul', 'aten::bmm')
# regions marked with record_function('seed:<share>'), (owner, attribute, share); the innermost
# region of an operator decides its share, 'attention_module' and 'backbone' split further
OUR_REGIONS = (
    ('model', 'data_preprocessor', 'normalisation'),
    ('views', 'pixel_images', 'resize'),
    ('views', 'authors_resize', 'resize'),
    ('model', 'backbone', 'backbone'),
    ('backbone', 'patch_embed', 'linear'),
    ('mct_vit', 'class_token_attention', 'class_attention'),
    ('head', 'cls_head', 'heads'),
    ('head', 'cam_head', 'heads'),
    ('localization', 'class_to_patch_attention', 'maps'),
    ('localization', 'fuse_maps', 'maps'),
    ('localization', 'refine_with_attention_affinity', 'affinity_refinement'),
    ('localization', 'refine_with_affinity', 'affinity_refinement'),
    ('localization', 'patch_affinity', 'affinity_refinement'),
    ('head', '_summed_maps', 'upsample_sum'),
    ('head', '_set_seed_outputs', 'seed'),
)
THEIR_REGIONS = (
    # their forward after the blocks: GWRP, stack and head mean of the attention, fusion
    ('model', 'forward', 'maps'),
    ('model', 'forward_features', 'backbone'),
    ('model', 'patch_embed', 'linear'),
    ('model', 'head', 'heads'),
)
SHARES = ('linear', 'attention', 'class_attention', 'other_backbone', 'heads',
          'affinity_refinement', 'maps', 'resize', 'normalisation', 'upsample_sum', 'seed',
          'other_ops', 'python')
PLAIN_REGIONS = ('linear', 'heads', 'class_attention', 'affinity_refinement', 'maps', 'resize',
                 'normalisation', 'upsample_sum', 'seed')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Profile CPU seed generation of one image')
    parser.add_argument('--side', choices=('ours', 'theirs'), default='ours')
    parser.add_argument('--authors-repo', help='checkout of github xulianuwa/MCTformer (theirs)')
    parser.add_argument('--authors-pythonpath', default='',
                        help='folders (":"-separated) put first on the path for their code '
                        '(timm 0.4.12)')
    parser.add_argument('--hw', default='375x500', help='image size HxW')
    parser.add_argument('--scales', type=float, nargs='+', default=None,
                        help='test scales (default: the config, 1.0 0.75 1.25)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed and profiled images each (after 1 warm-up)')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--top', type=int, default=15, help='operators listed by self time')
    parser.add_argument('--refinement-alternatives', action='store_true',
                        help='instead: time one layer of the affinity refinement as ours runs it '
                        'and as one explicit attention with an accumulated affinity')
    parser.add_argument('--out', help='also write the JSON here')
    args = parser.parse_args(argv)
    args.hw = bva.parse_hw(parser, args.hw)
    if args.repeats < 1:
        parser.error(f'--repeats: expected at least 1, got {args.repeats}')
    if args.side == 'theirs' and not (
            args.authors_repo and osp.isfile(osp.join(args.authors_repo, 'models.py'))):
        parser.error(f'--side theirs: --authors-repo {args.authors_repo!r} has no models.py '
                     '(a checkout of github xulianuwa/MCTformer is expected)')
    return args


def side_args(args):
    """The arguments ``bench_vs_authors``' sides read (seed mode, float32)."""
    return argparse.Namespace(
        authors_repo=args.authors_repo, device='cpu', precision='fp32',
        cuda_amp_dtype='float16', img_size=448, batch_size=4, hw=args.hw, scales=args.scales,
        num_classes=20)


def mark(owner, name, label):
    """Run ``owner.name`` (a function, a class's method or a module's forward) inside
    ``record_function(label)``."""
    import torch
    target = getattr(owner, name)
    module = isinstance(target, torch.nn.Module)
    call = target.forward if module else target

    @functools.wraps(call)
    def wrapped(*args, **kwargs):
        with torch.profiler.record_function(label):
            return call(*args, **kwargs)

    if module:
        target.forward = wrapped
    else:
        setattr(owner, name, wrapped)


def build_side(args):
    """``bench_vs_authors``' seed side with its regions marked, and the regions it lacks."""
    if args.side == 'ours':
        import mmseg_mctformer.models.backbones.mct_vit as mct_vit
        import mmseg_mctformer.models.utils.localization as localization
        from mmseg_mctformer.models.segmentors.test_time_views import ScaleFlipViews
        side = bva.OurSide(side_args(args))
        model = side.model
        # the views are built per prediction: their class's methods are marked
        owners = dict(model=model, backbone=model.backbone, head=model.decode_head,
                      localization=localization, mct_vit=mct_vit, views=ScaleFlipViews)
        regions, attns = OUR_REGIONS, [layer.attn for layer in model.backbone.layers]
    else:
        for path in reversed([p for p in args.authors_pythonpath.split(':') if p]):
            sys.path.insert(0, path)
        side = bva.TheirSide(side_args(args))
        owners = dict(model=side.model)
        regions, attns = THEIR_REGIONS, [block.attn for block in side.model.blocks]
    missing = []
    for owner, name, label in regions:
        if getattr(owners[owner], name, None) is not None:
            mark(owners[owner], name, 'seed:' + label)
        else:
            missing.append(f'{owner}.{name}')
    for attn in attns:  # qkv / proj inside are linear, the rest attention
        mark(attn, 'forward', 'seed:attention_module')
    return side, missing


def classify(name, region, stack, side):
    """Share of an operator's self time from its name, innermost region, its callers and the
    side."""
    if name.startswith('seed:'):  # a region's own time outside operators
        return 'python'
    if region in PLAIN_REGIONS:
        return region
    if name in LINEAR_OPS or 'aten::linear' in stack:
        return 'linear'
    if region == 'attention_module':
        return 'attention'
    if region == 'backbone':
        return 'other_backbone'
    if side == 'ours' or region is not None:
        return 'other_ops'
    # theirs outside the marked regions (their map loop): the patch-affinity sum and matmul,
    # the upsampling and flips
    if name in MATMUL_OPS or 'aten::matmul' in stack or name == 'aten::sum':
        return 'affinity_refinement'
    if name in ('aten::upsample_bilinear2d', 'aten::flip', 'aten::_upsample_bilinear2d_aa'):
        return 'upsample_sum'
    return 'other_ops'


def share_gflop(args, num_classes):
    """Floating-point operations (multiply-add = 2) of the shares that are matrix products, for
    one image at its scales with flips, from the token grids and DeiT-S's sizes.

    The token grid of scale s is ``round(s * H) // 16 x round(s * W) // 16`` (the authors' resize
    and crop, both sides); N = C + M tokens. Per forward of the image and its flip (2 sequences)
    and per layer: the linear layers ``2 N (4 D^2 + 2 D F)``, the attention ``2 * 2 N^2 D``
    (``q k^T`` and ``attn v`` over the H heads of D / H), the class-token rows ``2 C N D``; once:
    the patch embedding ``2 M (3 p^2) D`` and PatchCAM ``2 M (9 D) C``. The affinity refinement:
    ours a second attention pass of the M patch queries over the N keys with the maps as values
    (padded to D / H per head) ``2 * 2 M N D``; theirs ``2 M^2 C`` (the affinity summed over the
    layers, then one product).
    """
    d, f, layers, patch, c = 384, 1536, 12, 16, num_classes
    h, w = args.hw
    totals = collections.Counter()
    for s in bva.test_scales(side_args(args)):
        m = (round(s * h) // patch) * (round(s * w) // patch)
        n = c + m
        totals['linear'] += 2 * (layers * 2 * n * (4 * d * d + 2 * d * f)
                                 + 2 * m * 3 * patch**2 * d)
        totals['heads'] += 2 * 2 * m * 9 * d * c
        totals['attention'] += 2 * layers * 2 * 2 * n * n * d
        totals['class_attention'] += 2 * layers * 2 * c * n * d
        totals['affinity_refinement'] += 2 * layers * 2 * 2 * m * n * d
        totals['affinity_refinement_theirs'] += 2 * 2 * m * m * c
    return {k: v / 1e9 for k, v in totals.items()}


def profile(args):
    import torch
    from torch.profiler import ProfilerActivity
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    side, missing = build_side(args)
    data = side.prepare_seed(dict(seed=0))
    side.seed(data)  # warm-up
    cpu = []
    for _ in range(args.repeats):
        start = time.process_time()
        side.seed(data)
        cpu.append(time.process_time() - start)
    shares = collections.Counter()
    ops = collections.Counter()
    prof_cpu = []
    for _ in range(args.repeats):
        with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.process_time()
            with torch.profiler.record_function('seed:job'):
                side.seed(data)
            prof_cpu.append(time.process_time() - start)
        for event in prof.events():
            stack, region, parent = [], None, event.cpu_parent
            if event.name.startswith('seed:') and event.name != 'seed:job':
                region = event.name[len('seed:'):]
            while parent is not None:
                stack.append(parent.name)
                if region is None and parent.name.startswith('seed:') \
                        and parent.name != 'seed:job':
                    region = parent.name[len('seed:'):]
                parent = parent.cpu_parent
            shares[classify(event.name, region, stack, args.side)] += event.self_cpu_time_total
            if not event.name.startswith('seed:'):
                ops[event.name] += event.self_cpu_time_total
    total = sum(shares.values())
    n = args.repeats
    unprofiled = statistics.median(cpu)
    gflop = share_gflop(args, 20)
    if args.side == 'theirs':
        gflop['affinity_refinement'] = gflop.pop('affinity_refinement_theirs')
        gflop.pop('class_attention')
    else:
        gflop.pop('affinity_refinement_theirs')
    table = {}
    for k in SHARES:
        if not shares[k]:
            continue
        # CPU seconds of a share: its share of the profiled time times the unprofiled CPU time
        entry = dict(ms=round(shares[k] / 1e3 / n, 1), share=round(shares[k] / total, 4),
                     cpu_s=round(shares[k] / total * unprofiled, 4))
        if k in gflop:
            entry.update(gflop=round(gflop[k], 2),
                         gflop_per_cpu_s=round(gflop[k] / max(entry['cpu_s'], 1e-9), 1))
        table[k] = entry
    return dict(
        side=args.side, torch=torch.__version__, threads=args.threads, hw=args.hw,
        scales=bva.test_scales(side_args(args)), flip=True, repeats=n,
        unprofiled_cpu_s=round(unprofiled, 4),
        profiled_cpu_s=round(statistics.median(prof_cpu), 4),
        profiled_op_ms=round(total / 1e3 / n, 1), unmarked_regions=missing,
        shares=table,
        top_ops_ms={k: round(v / 1e3 / n, 1) for k, v in ops.most_common(args.top)})


def _fused_layer(q, k, v, maps, affinity, c, scale):
    """Ours: fused attention, class-token rows, refinement pass (one layer)."""
    import torch.nn.functional as F

    from mmseg_mctformer.models.backbones.mct_vit import class_token_attention
    from mmseg_mctformer.models.utils.localization import refine_with_attention_affinity
    F.scaled_dot_product_attention(q, k, v)
    class_token_attention(q, k, c, scale)
    refine_with_attention_affinity(maps, [q], [k], c)


def _explicit_layer(q, k, v, maps, affinity, c, scale):
    """One explicit attention whose head-averaged matrix gives the output, the class-token rows
    and the running patch affinity (one layer)."""
    attn = ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, H, N, N)
    attn @ v
    mean = attn.mean(dim=1)  # (B, N, N): rows [:C] are the class-token rows
    affinity.add_(mean[:, c:, c:])


def _explicit_chunked_layer(q, k, v, maps, affinity, c, scale, rows=64):
    """The same as :func:`_explicit_layer` in blocks of ``rows`` queries, so that the (rows, N)
    attention of every head stays in the cache."""
    import torch
    kt = k.transpose(-2, -1) * scale
    out = torch.empty_like(q)
    n = q.shape[-2]
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        attn = (q[:, :, start:stop] @ kt).softmax(dim=-1)  # (B, H, rows, N)
        out[:, :, start:stop] = attn @ v
        first = max(start, c)  # patch query rows of the block
        if first < stop:
            affinity[:, first - c:stop - c].add_(attn[:, :, first - start:, c:].mean(dim=1))


def _explicit_once(q, k, v, maps, affinity, c, scale):
    """The refinement with the accumulated affinity (once per forward)."""
    from mmseg_mctformer.models.utils.localization import refine_with_affinity
    refine_with_affinity(maps, affinity)


def _median_cpu_s(fn, repeats, *args):
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn(*args)
        times.append(time.process_time() - start)
    return statistics.median(times)


def refinement_alternatives(args):
    """The attention work of the seeds per forward (image and flip, random q / k / v, 12 layers),
    per scale:

    - ``fused`` (ours): per layer the backbone's fused attention, the class-token rows
      (``class_token_attention``) and the refinement as a second attention pass
      (``refine_with_attention_affinity``); memory linear in the tokens;
    - ``explicit_accumulated``: per layer one explicit attention whose head-averaged (N, N)
      matrix gives the output, the class-token rows and a running (M, M) patch affinity, then
      once ``refine_with_affinity`` (a path that keeps the affinity instead of recomputing it;
      the authors keep every layer's matrix);
    - ``explicit_chunked``: the same in blocks of 64 queries (each block's (64, N) attention
      stays in the cache).

    The explicit variants compute the attention with another rounding than the fused kernel:
    maps equal to float32 rounding, seeds not bit-identical.

    Median CPU seconds of ``--repeats`` calls after one warm-up.
    """
    import torch
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    c, heads, dim, layers, patch = 20, 6, 64, 12, 16
    scale = dim**-0.5
    h, w = args.hw
    rows, totals = [], collections.Counter()
    for s in bva.test_scales(side_args(args)):
        gh, gw = round(s * h) // patch, round(s * w) // patch
        n = c + gh * gw
        tensors = [torch.randn(2, heads, n, dim, generator=gen) for _ in range(3)]
        tensors += [torch.rand(2, c, gh, gw, generator=gen), torch.zeros(2, n - c, n - c)]
        fused = layers * _median_cpu_s(_fused_layer, args.repeats, *tensors, c, scale)
        once = _median_cpu_s(_explicit_once, args.repeats, *tensors, c, scale)
        explicit = layers * _median_cpu_s(_explicit_layer, args.repeats, *tensors, c, scale)
        chunked = layers * _median_cpu_s(_explicit_chunked_layer, args.repeats, *tensors, c,
                                         scale)
        rows.append(dict(scale=s, tokens=n, fused_cpu_s=round(fused, 4),
                         explicit_accumulated_cpu_s=round(explicit + once, 4),
                         explicit_chunked_cpu_s=round(chunked + once, 4)))
        totals['fused'] += fused
        totals['explicit_accumulated'] += explicit + once
        totals['explicit_chunked'] += chunked + once
    return dict(
        mode='refinement_alternatives', torch=torch.__version__, threads=args.threads,
        hw=args.hw, layers=layers, per_forward=rows,
        per_image_cpu_s={k: round(v, 4) for k, v in totals.items()},
        explicit_over_fused=round(totals['explicit_accumulated'] / totals['fused'], 3),
        explicit_chunked_over_fused=round(totals['explicit_chunked'] / totals['fused'], 3))


def main(argv=None):
    args = parse_args(argv)
    emit_json(refinement_alternatives(args) if args.refinement_alternatives else profile(args),
              args.out)


if __name__ == '__main__':
    main()
