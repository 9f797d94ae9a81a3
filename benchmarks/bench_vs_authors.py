"""Side by side with the authors' code: MCTformer+ training step and seed generation.

Runs our MCTformer+ (``configs/_base_/models/mctformer-plus_deit-s.py``) and the authors'
(github xulianuwa/MCTformer, HEAD) on the same machine, each in a long-lived worker process, jobs
alternated (ABBA) and medians reported. No code of theirs is in this project: give a checkout of
their repository with ``--authors-repo``; their worker imports ``models.py`` / ``engine.py`` from
there and runs their own functions. Their code needs timm 0.4.12 (and scikit-learn, OpenCV):
``--authors-pythonpath`` puts a folder holding those first on their worker's path only.

- ``train``: ``--iters`` steps on a batch of ``--batch-size`` random ``--img-size`` images with
  random multi-hot labels, made before the timed part (theirs also normalised and, on CUDA,
  pinned there, as their data loader does). Theirs: ``engine.train_one_epoch`` (their three
  losses, timm's AdamW and ``NativeScaler``, ``torch.cuda.amp.autocast`` as they ship it), the
  model built by ``deit_small_MCTformerPlus(input_size=img_size, drop_path_rate=0.1)``. Ours:
  ``MCTformer.train_step`` through the optimizer wrapper that ``configs/mctformer_plus_voc.py``
  builds (fused AdamW in its parameter groups, the same lr rule and weight decay), uint8 images
  normalised on the device by our data preprocessor.
- ``seed``: one ``HxW`` image at the config's test scales, each with its flip. Theirs:
  ``engine.generate_attention_maps_ms`` on that image's list of resized copies (batch 1, every
  layer's attention, patch-affinity refinement, nothing written: ``--visualize-cls-attn`` off, so
  their side stops at the summed maps), the resizing done beforehand, as their data loader does.
  Ours: ``MCTformer.test_step`` on the uint8 image (resizing, maps, normalisation and seeds).

Precision (``--precision``): ``fp32`` runs both in float32 (their ``torch.cuda.amp.autocast``
is replaced by a disabled one); ``amp`` runs theirs as shipped (float16 autocast and a loss scaler
on CUDA; on a CPU their autocast does nothing, so they stay float32) and ours with ``--amp``'s
choice: float16 autocast (mmengine's ``AmpOptimWrapper``) on CUDA, bfloat16 autocast
(``AutocastOptimWrapper``) on a CPU; ``--cuda-amp-dtype bfloat16`` takes bfloat16 without a loss
scaler on CUDA too. On a CPU their code's ``.cuda()`` / ``torch.cuda.synchronize``
calls are made no-ops in their worker.

- ``ops``: the ATen operators one training step dispatches (the optimizer step not counted:
  single-tensor on a CPU, a few dozen foreach kernels on CUDA), all and without the view-only
  and allocation ops.
  On a GPU a step whose kernels are quick is bound by this host work (each operator a launch);
  the count is the same on any device, so a CPU measures it. No timing.

Speed: wall-clock images/s (CUDA synchronised) and, on a CPU, CPU seconds of the worker
(``time.process_time``); peak memory: CUDA ``max_memory_allocated`` over what was allocated before
the job, CPU peak RSS (``VmHWM`` reset before the job) over the RSS before it, read in one more
untimed job per side after the heap's free pages went back to the OS (the timed jobs keep the
allocator's steady state). Random weights on
both sides (the same architecture; speed does not depend on the values). Prints one JSON object.

Example (their checkout and a folder with timm 0.4.12 made beforehand)::

    python benchmarks/bench_vs_authors.py --authors-repo ../MCTformer \\
        --authors-pythonpath /tmp/authors_site --modes train seed --threads 1
    python benchmarks/bench_vs_authors.py --authors-repo ../MCTformer \\
        --authors-pythonpath /tmp/authors_site --device cuda --precision amp --batch-size 32
"""
import argparse
import contextlib
import json
import os.path as osp
import sys
import tempfile
import types

import bench_workers as bw  # benchmarks/ (the script's folder)
from bench_seed_generation import MODEL_CFG, ROOT
from json_output import emit_json

SIDES = ('ours', 'theirs')
# our optimizer as this config builds it (the VOC stage-1 recipe of the authors' code)
STAGE1_CFG = osp.join(ROOT, 'configs', 'mctformer_plus_voc.py')
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def parse_hw(parser, text):
    """``[H, W]`` from ``--hw HxW``; a parser error unless both are positive integers."""
    try:
        hw = [int(v) for v in text.lower().split('x')]
    except ValueError:
        hw = []
    if len(hw) != 2 or min(hw) < 1:
        parser.error(f'--hw: expected HxW with positive H and W, got {text!r}')
    return hw


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='MCTformer+ against the authors\' code')
    parser.add_argument('--authors-repo', required=True,
                        help='checkout of github xulianuwa/MCTformer (HEAD: MCTformer+)')
    parser.add_argument('--authors-pythonpath', default='',
                        help='folder(s) put first on the authors\' worker path (timm 0.4.12)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    parser.add_argument('--precision', choices=('fp32', 'amp'), default='fp32')
    parser.add_argument('--cuda-amp-dtype', choices=('float16', 'bfloat16'), default='float16',
                        help='our autocast dtype on CUDA under --precision amp: float16 with '
                        'AmpOptimWrapper (loss scaler, as --amp), or bfloat16 with '
                        'AutocastOptimWrapper (no scaler)')
    parser.add_argument('--modes', nargs='+', choices=('train', 'seed', 'ops'),
                        default=['train', 'seed'])
    parser.add_argument('--img-size', type=int, default=448, help='training crop')
    parser.add_argument('--batch-size', type=int, default=4, help='training batch')
    parser.add_argument('--iters', type=int, default=2, help='training steps per timed job')
    parser.add_argument('--hw', default='375x500', help='seed image size HxW')
    parser.add_argument('--scales', type=float, nargs='+', default=None,
                        help='seed test scales (default: the config, 1.0 0.75 1.25)')
    parser.add_argument('--repeats', type=int, default=3, help='timed jobs per side and mode')
    parser.add_argument('--warmup', type=int, default=1, help='untimed jobs per side and mode')
    parser.add_argument('--num-classes', type=int, default=20)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads per worker')
    parser.add_argument('--out', help='also write the JSON here')
    parser.add_argument('--worker', choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.hw = parse_hw(parser, args.hw)
    for name in ('img_size', 'batch_size', 'iters', 'repeats'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")}: expected at least 1, got '
                         f'{getattr(args, name)}')
    if args.num_classes < 2:  # every random image gets two labels
        parser.error(f'--num-classes: expected at least 2, got {args.num_classes}')
    if not osp.isfile(osp.join(args.authors_repo, 'models.py')):
        parser.error(f'--authors-repo: {args.authors_repo!r} has no models.py '
                     '(a checkout of github xulianuwa/MCTformer is expected)')
    return args


def test_scales(args):
    from mmengine.config import Config
    return list(args.scales or Config.fromfile(MODEL_CFG).model.test_cfg.scales)


def stage1_optim_wrapper(model, wrapper, **optimizer):
    """The optimizer wrapper that ``configs/mctformer_plus_voc.py`` builds for ``model`` (fused
    AdamW in the config's parameter groups), its fields updated with ``wrapper`` (``type`` and
    the AMP settings; the config's ``loss_scale`` is dropped) and its optimizer's with
    ``optimizer``."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    import mmseg_mctformer  # noqa: F401 (the configs' optimizer constructor)
    cfg = Config.fromfile(STAGE1_CFG).optim_wrapper
    cfg.pop('loss_scale', None)
    cfg.update(wrapper)
    cfg.optimizer.update(optimizer)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return build_optim_wrapper(model, cfg)


# ------------------------------------------------------------------------------------ workers
def random_images(args, job, hw, n):
    """``n`` random uint8 images (n, 3, H, W) and multi-hot labels (n, C), seeded by the job."""
    import torch
    gen = torch.Generator().manual_seed(job['seed'])
    imgs = torch.randint(0, 256, (n, 3, *hw), dtype=torch.uint8, generator=gen)
    labels = torch.zeros(n, args.num_classes)
    for row in labels:
        row[torch.randperm(args.num_classes, generator=gen)[:2]] = 1
    return imgs, labels


class OurSide:
    """Our MCTformer+ (random weights) with mmengine's optimizer wrapper."""

    def __init__(self, args):
        import torch
        from mmengine.config import Config
        from mmengine.registry import DefaultScope
        from mmseg.registry import MODELS

        import mmseg_mctformer  # noqa: F401

        cfg = Config.fromfile(MODEL_CFG).model
        cfg.backbone.init_cfg = None
        cfg.backbone.img_size = args.img_size
        for key in ('backbone', 'cls_head', 'cam_head'):
            cfg[key].num_classes = args.num_classes
        if args.scales:
            cfg.test_cfg.scales = tuple(args.scales)
        with DefaultScope.overwrite_default_scope('mmseg'):
            self.model = MODELS.build(cfg).to(args.device)
        self.args = args
        self.cuda = args.device.startswith('cuda')
        fp16 = self.cuda and args.cuda_amp_dtype == 'float16'
        if args.precision == 'fp32':
            wrapper = dict(type='OptimWrapper')
        elif fp16:
            wrapper = dict(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
        else:
            wrapper = dict(type='AutocastOptimWrapper')
        # their lr rule
        self.optim_wrapper = stage1_optim_wrapper(self.model, wrapper,
                                                  lr=5e-4 * args.batch_size / 512)
        self.test_amp = dict(device_type=torch.device(args.device).type,
                             dtype=torch.float16 if fp16 else torch.bfloat16,
                             enabled=args.precision == 'amp')

    def _batch(self, imgs, labels):
        from mmseg.structures import SegDataSample
        samples = []
        hw = tuple(imgs.shape[-2:])
        for label in labels:
            sample = SegDataSample(metainfo=dict(img_shape=hw, ori_shape=hw, pad_shape=hw))
            sample.set_data(dict(gt_class_labels=label.long()))
            samples.append(sample)
        return dict(inputs=list(imgs), data_samples=samples)

    def prepare_train(self, job):
        imgs, labels = random_images(self.args, job, (self.args.img_size, ) * 2,
                                     self.args.batch_size)
        return self._batch(imgs, labels)

    def train(self, batch):
        self.model.train()
        for _ in range(self.args.iters):
            losses = self.model.train_step(batch, self.optim_wrapper)
            # read every step, as mmengine's logging does (and their loop's ``loss.item()``):
            # one device synchronisation a step on both sides
            value = float(losses['loss'].detach())
        return value

    def prepare_seed(self, job):
        return self._batch(*random_images(self.args, job, self.args.hw, 1))

    def seed(self, batch):
        import torch
        self.model.eval()
        with torch.no_grad(), torch.autocast(**self.test_amp):
            out = self.model.test_step(batch)
        return float(out[0].pred_sem_seg.data.float().mean())


class TheirSide:
    """The authors' MCTformer+ and their own train / map-generation functions."""

    def __init__(self, args):
        import torch
        sys.path.insert(0, osp.abspath(args.authors_repo))
        self.cuda = args.device.startswith('cuda')
        if not self.cuda:  # their model and loop call .cuda() / synchronize unconditionally
            torch.Tensor.cuda = lambda self, *a, **k: self
            torch.cuda.synchronize = lambda *a, **k: None
        if args.precision == 'fp32':
            torch.cuda.amp.autocast = lambda *a, **k: torch.autocast('cuda', enabled=False)
        with contextlib.redirect_stdout(sys.stderr):  # their prints stay off the job channel
            import engine
            import models
            from timm.optim import create_optimizer
            from timm.utils import NativeScaler
            self.model = models.deit_small_MCTformerPlus(
                num_classes=args.num_classes, input_size=args.img_size,
                drop_path_rate=0.1).to(args.device)
        self.engine, self.args = engine, args
        self.device = torch.device(args.device)
        self.opt_args = types.SimpleNamespace(
            opt='adamw', lr=5e-4 * args.batch_size / 512, weight_decay=0.05, opt_eps=1e-8,
            opt_betas=None, momentum=0.9, num_cct=12, loss_weight=1.0)
        self.optimizer = create_optimizer(self.opt_args, self.model)
        self.loss_scaler = NativeScaler()
        self.mean = torch.tensor(MEAN).view(1, 3, 1, 1) / 255
        self.std = torch.tensor(STD).view(1, 3, 1, 1) / 255
        # their map loop reads image names from <img_list>/train_aug_id.txt; removed at exit
        self._img_list = tempfile.TemporaryDirectory(prefix='bench_vs_authors_')
        with open(osp.join(self._img_list.name, 'train_aug_id.txt'), 'w') as f:
            f.write('bench_image\n')
        self.gen_args = types.SimpleNamespace(
            attention_dir=None, cam_npy_dir=None, img_list=self._img_list.name,
            model='deit_small_MCTformerPlus', patch_size=16, layer_index=12,
            attention_type='fused', patch_attn_refine=True, visualize_cls_attn=False,
            nb_classes=args.num_classes)
        self.scales = test_scales(args)

    def _normalise(self, imgs):
        return (imgs.float() / 255 - self.mean) / self.std

    def prepare_train(self, job):
        imgs, labels = random_images(self.args, job, (self.args.img_size, ) * 2,
                                     self.args.batch_size)
        imgs = self._normalise(imgs)
        if self.cuda:  # their loader: pin_memory=True
            imgs, labels = imgs.pin_memory(), labels.pin_memory()
        return [(imgs, labels)] * self.args.iters

    def train(self, loader):
        with contextlib.redirect_stdout(sys.stderr):
            stats = self.engine.train_one_epoch(
                self.model, loader, self.optimizer, self.device, 0, self.loss_scaler,
                max_norm=None, set_training_mode=True, args=self.opt_args)
        return stats['loss']

    def prepare_seed(self, job):
        import torch
        import torch.nn.functional as F
        imgs, labels = random_images(self.args, job, self.args.hw, 1)
        img = self._normalise(imgs)
        h, w = self.args.hw
        ms = []  # their VOC12DatasetMS: each scale (rounded size, bicubic), then its flip
        for s in self.scales:
            scaled = F.interpolate(img, size=(round(h * s), round(w * s)), mode='bicubic',
                                   align_corners=False)
            ms += [scaled, torch.flip(scaled, [-1])]
        return [(ms, labels)]

    def seed(self, loader):
        with contextlib.redirect_stdout(sys.stderr):
            self.engine.generate_attention_maps_ms(loader, self.model, self.device,
                                                   self.gen_args)
        return 0.0


def count_train_ops(side, job, iters):
    """ATen operators of one training step (optimizer step not counted), after a warm-up step."""
    import torch
    data = side.prepare_train(job)
    side.train(data)
    step = torch.optim.AdamW.step
    torch.optim.AdamW.step = bw.OpCounter.exclude(step)
    try:
        with bw.OpCounter() as counter:
            side.train(data)
    finally:
        torch.optim.AdamW.step = step
    return dict(ops_per_step=round(counter.ops / iters, 1),
                kernel_ops_per_step=round(counter.kernel_ops / iters, 1),
                top_kernel_ops={k: round(v / iters, 1) for k, v in counter.top.items()})


def worker(args):
    """Serve jobs read from stdin (one JSON line each), answer one JSON line each."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    side = (OurSide if args.worker == 'ours' else TheirSide)(args)
    base_rss = bw.rss_mb()[0]
    print(json.dumps(dict(ready=True, torch=torch.__version__,
                          rss_after_model_mb=round(base_rss, 1))), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        if job['mode'] == 'ops':
            print(json.dumps(count_train_ops(side, job, args.iters)), flush=True)
            continue
        data = getattr(side, 'prepare_' + job['mode'])(job)  # untimed: the data loader's work
        with bw.JobMeter(args.device, base_rss, memory=job.get('memory', True)) as meter:
            value = getattr(side, job['mode'])(data)
        print(json.dumps(dict(meter.result, value=value)), flush=True)


# ------------------------------------------------------------------------------------ parent
def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    argv = list(argv if argv is not None else sys.argv[1:])
    load_start = bw.loadavg()
    script = [sys.executable, osp.abspath(__file__)]
    workers = [bw.Worker('ours', script + ['--worker', 'ours'] + argv, ROOT,
                         env=dict(PYTHONPATH=bw.pythonpath(ROOT))),
               bw.Worker('theirs', script + ['--worker', 'theirs'] + argv, ROOT,
                         env=dict(PYTHONPATH=bw.pythonpath(args.authors_pythonpath, ROOT)))]
    images = dict(train=args.batch_size * args.iters, seed=1)
    results = {}
    for mode in args.modes:
        if mode == 'ops':
            ours, theirs = (w.run(dict(mode='ops', seed=0)) for w in workers)
            results['ops'] = dict(
                ours=ours, theirs=theirs,
                kernel_ops_ratio=round(ours['kernel_ops_per_step'] /
                                       theirs['kernel_ops_per_step'], 3))
            continue
        for i in range(args.warmup):
            for w in workers:
                w.run(dict(mode=mode, seed=10_000 + i, memory=False))
        runs = {w.name: [] for w in workers}
        for i in range(args.repeats):
            for w in (workers if i % 2 == 0 else workers[::-1]):  # ABBA
                runs[w.name].append(w.run(dict(mode=mode, seed=i, memory=False)))
        # memory: one more job each, untimed, after the heap's free pages went back to the OS
        peaks = {w.name: w.run(dict(mode=mode, seed=0, memory=True))['peak_mem_mb']
                 for w in workers}
        entry = {}
        for name, rs in runs.items():
            sec, cpu = bw.median_job(rs)
            entry[name] = dict(
                images_per_s=round(images[mode] / sec, 4),
                cpu_images_per_s=round(images[mode] / max(cpu, 1e-9), 4),
                peak_mem_mb=round(peaks[name], 1),
                runs_s=[round(r['seconds'], 6) for r in rs])
        ours, theirs = entry['ours'], entry['theirs']
        entry.update(
            speed_ratio=round(ours['images_per_s'] / theirs['images_per_s'], 3),
            cpu_speed_ratio=round(ours['cpu_images_per_s'] / theirs['cpu_images_per_s'], 3),
            memory_ratio=round(ours['peak_mem_mb'] / max(theirs['peak_mem_mb'], 1e-9), 3))
        results[mode] = entry
    for w in workers:
        w.close()
    import torch
    device_name = (torch.cuda.get_device_name(args.device) if args.device.startswith('cuda')
                   else None)
    summary = dict(
        device=args.device, device_name=device_name, precision=args.precision,
        cuda_amp_dtype=args.cuda_amp_dtype if args.device.startswith('cuda') else None,
        torch={w.name: w.info['torch'] for w in workers},
        threads=args.threads, train=dict(img_size=args.img_size, batch_size=args.batch_size,
                                         iters_per_job=args.iters),
        seed=dict(hw=args.hw, scales=test_scales(args), flip=True),
        repeats=args.repeats, warmup=args.warmup, num_classes=args.num_classes,
        memory=bw.MEMORY_NOTE,
        loadavg_start=load_start, loadavg_end=bw.loadavg(),
        results=results)
    emit_json(summary, args.out)


if __name__ == '__main__':
    main()
