"""Per-batch model cost of the demo's stages (112 px, DINOv2 ViT-S/14 shapes, random weights).

What each stage of ``make demo`` spends its CPU on, without data loading or files:

- ``stage1_train``: one MCTformer+ training step (forward, losses, backward) on a batch of 32;
- ``pseudo_labels``: ``MCTformer.predict`` on a batch of 8 images (scale 1 + flip, the demo's
  ``test_cfg``), the images of one size batched into one forward (``grouped``, the default) against
  one image a forward (``one_at_a_time``, forced by ``test_cfg.max_tokens``);
- ``affinity_train``: one AffinityNet training step (forward, PSA loss, backward) on a batch of 16;
- ``masks``: ``AffinityNet.predict`` (random walk) on a batch of 16;
- ``segmentor_train_vit`` / ``segmentor_train_cached``: one training step of the demo DeepLabV3+
  (frozen ViT + spatial path) on a batch of 16, with the ViT run / its features from the cache
  (``context_cache_size``: every epoch after the first two).

With ``--bf16`` the training steps are timed a second time under bfloat16 autocast (what
``--amp`` runs on a CPU: ``AutocastOptimWrapper``), as ``<name>_bf16`` with the float32 / bf16
ratio as ``<name>_bf16_speedup``.

Medians of ``--repeats`` timed runs after one warm-up, seconds per batch and per image. Prints
one JSON object (``--out`` also writes it).

Example::

    python benchmarks/bench_demo_stages.py --threads 2 --repeats 3 [--bf16]
"""
import argparse
import os.path as osp
import statistics
import time

import torch
from json_output import emit_json  # benchmarks/ (the script's folder)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'stage1': 'configs/mctformer_plus_demo.py',
    'affinity': 'configs/affinity/affinitynet_dinov2-s_1xb16-1e_demo-112x112.py',
    'segmentor': 'configs/deeplabv3plus/deeplabv3plus_vit-s14-frozen_1xb16-1500it_demo-pseudo-'
                 '112x112.py',
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Model cost of the demo stages')
    parser.add_argument('--threads', type=int, default=2, help='torch threads')
    parser.add_argument('--repeats', type=int, default=3, help='timed runs per measurement')
    parser.add_argument('--bf16', action='store_true',
                        help='also time the training steps under bf16 autocast')
    parser.add_argument('--out', help='also write the JSON here')
    return parser.parse_args(argv)


def _median_seconds(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _build(name, strip_weights):
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[name]))
    strip_weights(cfg.model)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _strip(cfg):
    """Drop every Pretrained init_cfg: random weights, no checkpoint read."""
    if isinstance(cfg, dict):
        if isinstance(cfg.get('init_cfg'), dict) and cfg['init_cfg'].get('type') == 'Pretrained':
            cfg['init_cfg'] = None
        for value in cfg.values():
            _strip(value)


def _samples(n, size, **fields):
    from mmseg.structures import SegDataSample
    out = []
    for _ in range(n):
        sample = SegDataSample(**{k: v() for k, v in fields.items()})
        sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size))
        out.append(sample)
    return out


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from mmengine.structures import PixelData
    from mmseg.utils import register_all_modules

    import mmseg_mctformer  # noqa: F401
    register_all_modules(init_default_scope=True)
    size, results = (112, 112), {}

    def per(name, seconds, batch):
        results[name] = dict(seconds_per_batch=round(seconds, 4), batch=batch,
                             ms_per_image=round(1000 * seconds / batch, 2))

    def train_step(name, step, batch, before=None, setup=None):
        """Time ``step`` in float32 and, with --bf16, under bf16 autocast; ``before`` runs before
        every call, ``setup`` once per precision (before the warm-up)."""
        for bf16 in (False, True) if args.bf16 else (False, ):
            if setup is not None:
                setup()

            def run(bf16=bf16):
                if before is not None:
                    before()
                with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                    losses = step()
                sum(v for k, v in losses.items() if 'loss' in k).backward()
            per(name + ('_bf16' if bf16 else ''), _median_seconds(run, args.repeats), batch)
        if args.bf16:
            results[f'{name}_bf16_speedup'] = round(
                results[name]['seconds_per_batch']
                / results[f'{name}_bf16']['seconds_per_batch'], 2)

    mct = _build('stage1', _strip)
    x8 = torch.randn(8, 3, *size)
    labels = torch.tensor([1, 0, 1, 0, 0, 0])
    mct.train()
    x32 = torch.randn(32, 3, *size)
    train_step('stage1_train', lambda: mct.loss(
        x32, _samples(32, size, gt_class_labels=lambda: labels)), 32)
    mct.eval()
    with torch.no_grad():
        for mode, max_tokens in (('grouped', 10000), ('one_at_a_time', 64)):
            mct.test_cfg['max_tokens'] = max_tokens
            per(f'pseudo_labels_{mode}', _median_seconds(
                lambda: mct.predict(x8, _samples(8, size, gt_class_labels=lambda: labels)),
                args.repeats), 8)
    results['pseudo_labels_speedup'] = round(
        results['pseudo_labels_one_at_a_time']['seconds_per_batch']
        / results['pseudo_labels_grouped']['seconds_per_batch'], 2)

    aff = _build('affinity', _strip)
    x16 = torch.randn(16, 3, *size)
    train_samples = _samples(16, size, gt_sem_seg=lambda: PixelData(
        data=torch.randint(0, 3, (1, *size))))
    aff.train()
    train_step('affinity_train', lambda: aff.loss(x16, train_samples), 16)

    def maps():
        m = torch.zeros(6, *size)
        m[[1, 3]] = torch.rand(2, *size)
        return PixelData(data=m)

    aff.eval()
    with torch.no_grad():
        per('masks', _median_seconds(lambda: aff.predict(x16, _samples(16, size, loc_maps=maps)),
                                     args.repeats), 16)

    seg = _build('segmentor', _strip)
    seg.train()
    seg_samples = _samples(16, size, gt_sem_seg=lambda: PixelData(
        data=torch.randint(0, 7, (1, *size))))

    # the first epoch: the frozen ViT runs; afterwards its features come from the cache
    train_step('segmentor_train_vit', lambda: seg.loss(x16, seg_samples), 16,
               before=seg.backbone.context_cache.clear)
    # (the warm-up fills the cache in the precision being timed)
    train_step('segmentor_train_cached', lambda: seg.loss(x16, seg_samples), 16,
               setup=seg.backbone.context_cache.clear)
    results.update(threads=args.threads, repeats=args.repeats, image_size=list(size),
                   bf16=args.bf16, torch=torch.__version__)
    emit_json(results, args.out)


if __name__ == '__main__':
    main()
