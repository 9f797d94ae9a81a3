"""benchmarks/bench_small_data.py: schedule rescaling and the labels' base rate."""
import importlib.util
import os.path as osp

import numpy as np
import pytest

from mmseg_mctformer.datasets import generate_demo_dataset
from mmseg_mctformer.engine.runner import load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _bench():
    spec = importlib.util.spec_from_file_location(
        '_bench_small_data', osp.join(ROOT, 'benchmarks', 'bench_small_data.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rescale_schedule_stretches_the_cosine():
    cfg = load_config(osp.join(ROOT, 'configs', 'mctformer_plus_demo.py'))
    _bench().rescale_schedule(cfg, 5)
    assert cfg.train_cfg.max_epochs == 5 and cfg.train_cfg.val_interval == 1
    warmup, cosine = cfg.param_scheduler
    assert warmup['end'] == 10 and not warmup['by_epoch']  # iteration-based: unchanged
    assert cosine['end'] == 5 and cosine['T_max'] == 5


def test_label_base_rate(tmp_path):
    root = str(tmp_path / 'shapes')
    generate_demo_dataset(root, num_train=2, num_val=6, img_size=40, source='shapes')
    table = np.load(osp.join(root, 'cls_labels.npy'), allow_pickle=True).item()
    val = np.stack([table[f'val_{i:05d}'] for i in range(6)])
    assert _bench().label_base_rate(root) == pytest.approx(val.mean() * 100)
