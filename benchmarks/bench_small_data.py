"""Learning curves of stage 1 on a small generated dataset: loss, val mAP and seed mIoU per epoch.

    python benchmarks/bench_small_data.py configs/mctformer_plus_demo.py \
        --data-root work_dirs/data/shapes --epochs 4 --amp \
        --work-dir work_dirs/curves/shapes_demo --out benchmarks/results/small_data/x.json \
        [--cfg-options optim_wrapper.optimizer.lr=3e-4 ...]

Trains the config on ``--data-root`` (every dataloader of the config pointed at it) with a
validation after every epoch, and writes (atomically, after every epoch) a JSON with, per epoch,
the mean of each training loss term, the learning rate, the val classification mAP, the seed mIoU
at the best background threshold and that threshold, and the seconds taken. ``--epochs`` rescales
the epoch-based schedulers of the config to the new length; ``--labels-base-rate`` is recorded
from the val split (the mAP of random scores is about the mean label frequency).
"""
import argparse
import json
import os.path as osp
import sys
import time
from collections import defaultdict

import numpy as np
from mmengine.config import DictAction
from mmengine.hooks import Hook

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import mmseg_mctformer  # noqa: E402,F401
from mmseg_mctformer.engine.runner import build_runner, load_config  # noqa: E402
from mmseg_mctformer.utils.io import atomic_write_text  # noqa: E402

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'pseudo_label_dataloader')


class CurveHook(Hook):
    """Collects the per-epoch training losses and validation metrics into a JSON file."""

    priority = 'LOWEST'

    def __init__(self, out, record):
        self.out = out
        self.record = record
        self._sums = defaultdict(float)
        self._count = 0
        self._start = time.perf_counter()
        self._train = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        for key, value in (outputs or {}).items():
            if key.startswith('loss'):
                self._sums[key] += float(value.detach() if hasattr(value, 'detach') else value)
        self._count += 1

    def after_train_epoch(self, runner):
        self._train = {k: round(v / max(self._count, 1), 4) for k, v in self._sums.items()}
        self._train['lr'] = float(runner.optim_wrapper.get_lr()['lr'][0])
        self._train['iters'] = runner.iter
        self._sums.clear()
        self._count = 0

    def after_val_epoch(self, runner, metrics=None):
        metrics = metrics or {}
        row = dict(epoch=runner.epoch, **self._train,
                   mAP=_num(metrics.get('cls/mAP')),
                   seed_mIoU=_num(metrics.get('seed/mIoU')),
                   best_threshold=_num(metrics.get('seed/best_threshold')),
                   seconds=round(time.perf_counter() - self._start, 1))
        self.record['epochs'].append(row)
        atomic_write_text(self.out, json.dumps(self.record, indent=2) + '\n')


def _num(value):
    return None if value is None else round(float(value), 2)


def label_base_rate(data_root, split='val.txt'):
    """Mean fraction of images holding a class, over the classes (the mAP of random scores)."""
    table = np.load(osp.join(data_root, 'cls_labels.npy'), allow_pickle=True).item()
    with open(osp.join(data_root, 'ImageSets', 'Segmentation', split)) as f:
        names = f.read().split()
    labels = np.stack([np.asarray(table[n]) for n in names])
    return float(labels.mean(0).mean() * 100)


def rescale_schedule(cfg, epochs):
    """Set ``max_epochs`` and stretch the epoch-based schedulers that ended at the old one."""
    old = cfg.train_cfg.max_epochs
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = 1
    for sched in cfg.param_scheduler:
        if sched.get('by_epoch', True) and sched.get('end') == old:
            sched['end'] = epochs
            if sched.get('T_max') is not None:
                sched['T_max'] = epochs - sched.get('begin', 0)


def main(argv=None):
    parser = argparse.ArgumentParser(description='stage-1 learning curves on a small dataset')
    parser.add_argument('config')
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--out', required=True, help='JSON of the curves')
    parser.add_argument('--epochs', type=int, help='epochs (default: the config\'s)')
    parser.add_argument('--amp', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, amp=args.amp)
    for key in LOADERS:
        if key in cfg:
            dataset = cfg[key].dataset
            while 'dataset' in dataset:
                dataset = dataset.dataset
            dataset.data_root = args.data_root
    if args.epochs:
        rescale_schedule(cfg, args.epochs)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=10**6,
                                        save_last=True, max_keep_ckpts=1)
    record = dict(command=' '.join(['python'] + sys.argv), config=args.config,
                  data_root=args.data_root, cfg_options={k: repr(v) for k, v in
                                                         args.cfg_options.items()},
                  amp=args.amp, train_batch=cfg.train_dataloader.batch_size,
                  label_base_rate=round(label_base_rate(args.data_root), 2), epochs=[])
    runner = build_runner(cfg)
    runner.register_hook(CurveHook(args.out, record), priority='LOWEST')
    runner.train()
    return record


if __name__ == '__main__':
    main()
