"""End-to-end runs of the seed tools with a tiny MCTformer on a tiny demo dataset."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from PIL import Image

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.cli import split_dataloader
from mmseg_mctformer.datasets import DemoWSSSDataset
from mmseg_mctformer.datasets.demo_generator import FASHION_MNIST_DIR, generate_demo_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
C, D = 6, 16
pytestmark = pytest.mark.skipif(
    not osp.isfile(osp.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')),
    reason='Fashion-MNIST (Debian package dataset-fashion-mnist) is needed for the demo data')


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(tmp_path):
    data_root = str(tmp_path / 'demo')
    generate_demo_dataset(data_root, num_train=3, num_val=2, img_size=40, seed=1)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackWSSSInputs', num_classes=C)]

    def loader(split):
        return dict(batch_size=2, num_workers=0,
                    sampler=dict(type='DefaultSampler', shuffle=False),
                    dataset=dict(type='DemoWSSSDataset', data_root=data_root,
                                 ann_file=f'ImageSets/Segmentation/{split}.txt',
                                 pipeline=pipeline))

    cfg = Config(dict(
        default_scope='mmseg',
        work_dir=str(tmp_path / 'work'),
        model=dict(
            type='MCTformer',
            data_preprocessor=dict(type='WSSSDataPreProcessor', mean=[123.675, 116.28, 103.53],
                                   std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
            backbone=dict(type='MultiClassTokenViT',
                          arch=dict(embed_dims=D, num_layers=2, num_heads=2,
                                    feedforward_channels=32, patch_size=8),
                          num_classes=C, img_size=32, drop_path_rate=0.0),
            cls_head=dict(type='ClassTokenPoolHead', num_classes=C, in_channels=D),
            cam_head=dict(type='PatchCAMHead', num_classes=C, in_channels=D),
            test_cfg=dict(scales=(1.0, ), flip=False, top_k=2, bg_threshold=0.3)),
        test_dataloader=loader('val'),
        pseudo_label_dataloader=loader('train_aug'),
        test_cfg=dict(type='TestLoop'),
        test_evaluator=dict(type='IoUMetric'),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    checkpoint = str(tmp_path / 'model.pth')
    meta = dict(dataset_meta=dict(DemoWSSSDataset.METAINFO))  # as the runner saves it
    torch.save(dict(state_dict=model.state_dict(), meta=meta), checkpoint)
    cfg_file = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_file)
    return cfg_file, checkpoint


def test_seed_tools_end_to_end(tmp_path):
    cfg_file, checkpoint = _config(tmp_path)
    cfg = Config.fromfile(cfg_file)
    assert split_dataloader(cfg)['dataset']['ann_file'].endswith('train_aug.txt')
    assert split_dataloader(cfg, 'test')['dataset']['ann_file'].endswith('val.txt')
    with pytest.raises(ValueError, match="unknown split 'foo'"):
        split_dataloader(cfg, 'foo')
    with pytest.raises(KeyError, match="no 'val_dataloader'"):
        split_dataloader(cfg, 'val')

    out_dir = str(tmp_path / 'pl')
    _tool('make_pseudo_labels').main([cfg_file, checkpoint, '--out', out_dir,
                                      '--bg-threshold', '0.4'])
    names = sorted(n for n in os.listdir(out_dir) if n != 'pseudo_label_info.json')
    assert len(names) == 3 and all(n.endswith('.png') for n in names)
    info = json.loads((tmp_path / 'pl' / 'pseudo_label_info.json').read_text())
    assert info['bg_threshold'] == 0.4 and info['checkpoint'].startswith(checkpoint)
    assert info['test_cfg']['map_type'] == 'fused_affinity' and info['config'] == cfg_file
    # a rerun with the same settings resumes (nothing to do), with others it is refused
    assert _tool('make_pseudo_labels').main(
        [cfg_file, checkpoint, '--out', out_dir, '--bg-threshold', '0.4'])['skipped'] == 3
    with pytest.raises(ValueError, match=r'other settings \(bg_threshold: 0.4 -> 0.3\).*'
                       '--overwrite'):
        _tool('make_pseudo_labels').main([cfg_file, checkpoint, '--out', out_dir,
                                          '--bg-threshold', '0.3'])
    assert _tool('make_pseudo_labels').main(
        [cfg_file, checkpoint, '--out', out_dir, '--bg-threshold', '0.3',
         '--overwrite'])['written'] == 3
    # --amp (the pipeline's bfloat16 maps on a CPU) is another setting, recorded
    with pytest.raises(ValueError, match=r"precision: None -> 'mixed \(autocast\)'"):
        _tool('make_pseudo_labels').main([cfg_file, checkpoint, '--out', out_dir,
                                          '--bg-threshold', '0.3', '--amp'])
    assert _tool('make_pseudo_labels').main(
        [cfg_file, checkpoint, '--out', out_dir, '--bg-threshold', '0.3', '--amp',
         '--overwrite'])['written'] == 3
    info = json.loads((tmp_path / 'pl' / 'pseudo_label_info.json').read_text())
    assert info['precision'] == 'mixed (autocast)'
    _tool('make_pseudo_labels').main([cfg_file, checkpoint, '--out', out_dir,
                                      '--bg-threshold', '0.4', '--overwrite'])
    for name in names:
        with Image.open(osp.join(out_dir, name)) as im:
            assert im.mode == 'P' and im.size == (40, 40)
            assert np.array(im).max() <= C

    summary_file = str(tmp_path / 'seeds.json')
    summary = _tool('eval_seeds').main([cfg_file, checkpoint, '--thresholds', '0.2', '0.4',
                                        '--out', summary_file])
    with open(summary_file) as f:
        assert json.load(f)['seed/best_threshold'] == summary['seed/best_threshold']
    assert set(summary['seed/mIoU_per_threshold']) == {'0.20', '0.40'}
    assert 0 <= summary['seed/mIoU'] <= 100 and 0 <= summary['cls/mAP'] <= 100
    # the split (pseudo_label_dataloader: train_aug.txt) is named beside the plain keys
    assert summary['seed/train_aug/mIoU'] == summary['seed/mIoU']
    assert summary['cls/train_aug/mAP'] == summary['cls/mAP']
    assert 0 <= summary['seed/train_aug/precision'] <= 100

    # --pred-dir scores the written PNGs; at the same threshold it equals the sweep's value
    pred = _tool('eval_seeds').main([cfg_file, '--pred-dir', out_dir])
    assert pred['mIoU'] == pytest.approx(summary['seed/mIoU_per_threshold']['0.40'], abs=0.01)
    assert pred['num_images'] == 3 and pred['mask/train_aug/mIoU'] == pred['mIoU']
    with pytest.raises(SystemExit):
        _tool('eval_seeds').main([cfg_file])

    vis_dir = str(tmp_path / 'vis')
    _tool('visualize_maps').main([cfg_file, checkpoint, '--out', vis_dir, '--num', '2',
                                  '--split', 'test'])
    assert len(os.listdir(vis_dir)) == 2


def test_seed_tools_refuse_a_checkpoint_of_another_architecture(tmp_path):
    cfg_file, _ = _config(tmp_path)
    foreign = str(tmp_path / 'deeplab.pth')
    torch.save(dict(state_dict={'backbone.stem.0.weight': torch.zeros(8, 3, 3, 3),
                                'decode_head.conv_seg.weight': torch.zeros(7, 8, 1, 1)},
                    meta=dict()), foreign)
    out_dir = str(tmp_path / 'pl')
    with pytest.raises(ValueError, match=r'deeplab\.pth does not fit .* 0 of its \d+ keys'):
        _tool('make_pseudo_labels').main([cfg_file, foreign, '--out', out_dir])
    assert not osp.exists(out_dir) or not os.listdir(out_dir)
    with pytest.raises(ValueError, match=r'deeplab\.pth does not fit'):
        _tool('eval_seeds').main([cfg_file, foreign])
