"""benchmarks/probe_frozen_features.py: the probe's mAP and an end-to-end run on a tiny model."""
import json
import os.path as osp

import pytest
import torch

from mmseg_mctformer.datasets import generate_demo_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The demo config with a 2-block ViT of width 16 and random weights (no checkpoint read).
TINY_CONFIG = f"""
_base_ = [{osp.join(ROOT, 'configs', 'mctformer_plus_demo.py')!r}]
pretrained = None
model = dict(
    data_preprocessor=dict(size_divisor=8),
    backbone=dict(arch=dict(_delete_=True, embed_dims=16, num_layers=2, num_heads=2,
                            feedforward_channels=32, patch_size=8),
                  init_cfg=None),
    cls_head=dict(in_channels=16),
    cam_head=dict(in_channels=16))
"""


def test_probe_map_of_separable_features_is_100(probe):
    torch.manual_seed(0)
    labels = (torch.rand(40, 3) < 0.4).long()
    labels[0] = 1  # every class has a positive
    feats = torch.cat([labels.float(), torch.randn(40, 5)], dim=1)  # (N, C + 5)
    assert probe.probe_map(feats, labels, feats, labels) == pytest.approx(100.0)


def test_main_writes_the_json(probe, tmp_path):
    root = str(tmp_path / 'shapes')
    generate_demo_dataset(root, num_train=6, num_val=5, img_size=40, source='shapes')
    config = tmp_path / 'tiny.py'
    config.write_text(TINY_CONFIG)
    out = str(tmp_path / 'probe.json')
    record = probe.main([str(config), '--data-root', root, '--num-train', '4', '--out', out,
                         '--batch-size', '3', '--steps', '5'])
    with open(out) as f:
        assert json.load(f) == record
    assert record['command'].startswith('python benchmarks/probe_frozen_features.py ')
    assert (record['config'], record['data_root']) == (str(config), root)
    assert (record['num_train'], record['num_val']) == (4, 5)
    assert 0 < record['base_rate'] < 100
    assert set(record['features']) == {'patch_mean', 'patch_max', 'cls_token'}
    for value in record['features'].values():
        assert 0 <= value <= 100
    assert record['seconds'] >= 0
