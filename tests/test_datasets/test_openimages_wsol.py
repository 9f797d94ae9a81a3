"""OpenImagesWSOLDataset, LoadWSOLAnnotations and the segmentation -> WSOL layout writer."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS
from PIL import Image

from mmseg_mctformer.datasets import (
    LoadWSOLAnnotations,
    OpenImagesWSOLDataset,
    convert_seg_to_wsol,
    load_wsol_metadata,
)
from mmseg_mctformer.datasets.transforms.wsol_loading import nearest_resize


def _img(path, h=6, w=8):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)


def _write(path, lines):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(line + '\n' for line in lines))


def _layout(root):
    """train: 3 images of 2 classes (no masks); test: 2 images, one without ignore map."""
    oi = osp.join(root, 'OpenImages')
    train = ['train/m01/a.jpg', 'train/m01/b.jpg', 'train/m02/c.jpg']
    for image_id in train:
        _img(osp.join(oi, image_id))
    _write(osp.join(root, 'metadata/OpenImages/train/image_ids.txt'), train)
    _write(osp.join(root, 'metadata/OpenImages/train/class_labels.txt'),
           ['train/m01/a.jpg,0', 'train/m01/b.jpg,0', 'train/m02/c.jpg,1'])
    _img(osp.join(oi, 'test/m02/d.jpg'))
    _img(osp.join(oi, 'test/m01/e.jpg'))
    # d: 2 instance masks at half the image size, mode '1'; ignore box over the left half
    left = np.zeros((3, 4), bool)
    left[:, :2] = True
    top = np.zeros((3, 4), bool)
    top[0] = True
    Image.fromarray(top).convert('1').save(osp.join(oi, 'test/m02/d_mm02_aa.png'))
    Image.fromarray(np.eye(3, 4, dtype=bool)).convert('1').save(
        osp.join(oi, 'test/m02/d_mm02_bb.png'))
    Image.fromarray(left.astype(np.uint8) * 255).save(osp.join(oi, 'test/m02/d_ignore.png'))
    Image.fromarray(np.full((6, 8), 255, np.uint8)).save(osp.join(oi, 'test/m01/e_mm01_cc.png'))
    _write(osp.join(root, 'metadata/OpenImages/test/image_ids.txt'),
           ['test/m02/d.jpg', 'test/m01/e.jpg'])
    _write(osp.join(root, 'metadata/OpenImages/test/class_labels.txt'),
           ['test/m02/d.jpg,1', 'test/m01/e.jpg,0'])
    _write(osp.join(root, 'metadata/OpenImages/test/localization.txt'),
           ['test/m02/d.jpg,test/m02/d_mm02_aa.png,test/m02/d_ignore.png',
            'test/m02/d.jpg,test/m02/d_mm02_bb.png,',
            'test/m01/e.jpg,test/m01/e_mm01_cc.png,'])
    return top, np.eye(3, 4, dtype=bool), left


def _build(root, split, pipeline=(), **kwargs):
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(dict(type='OpenImagesWSOLDataset', data_root=root, split=split,
                                   pipeline=list(pipeline), **kwargs))


def test_metadata_reader(tmp_path):
    _layout(str(tmp_path))
    meta = load_wsol_metadata(str(tmp_path / 'metadata/OpenImages/test'))
    assert meta['image_ids'] == ['test/m02/d.jpg', 'test/m01/e.jpg']
    assert meta['class_labels'] == {'test/m02/d.jpg': 1, 'test/m01/e.jpg': 0}
    assert meta['localization']['test/m02/d.jpg'] == (
        ['test/m02/d_mm02_aa.png', 'test/m02/d_mm02_bb.png'], 'test/m02/d_ignore.png')
    assert meta['localization']['test/m01/e.jpg'] == (['test/m01/e_mm01_cc.png'], None)
    assert load_wsol_metadata(str(tmp_path / 'metadata/OpenImages/train'))['localization'] == {}


def test_train_split_gives_single_label_classification(tmp_path):
    _layout(str(tmp_path))
    pipeline = [dict(type='LoadCheckedImageFromFile'), dict(type='PackWSSSInputs')]
    dataset = _build(str(tmp_path), 'train', pipeline)
    assert isinstance(dataset, OpenImagesWSOLDataset) and not dataset.with_masks
    assert dataset.metainfo['classes'] == ('background', 'm01', 'm02')
    assert dataset.num_classes == 2 and len(dataset) == 3
    info = dataset.get_data_info(2)
    assert info['gt_class_labels'] == [1] and info['mask_paths'] == []
    assert info['img_path'] == osp.join(str(tmp_path), 'OpenImages', 'train/m02/c.jpg')
    sample = dataset[2]['data_samples']
    assert sample.gt_class_labels.tolist() == [0, 1]
    assert 'gt_sem_seg' not in sample


def test_test_split_masks_are_or_ed_and_ignore_excludes_foreground(tmp_path):
    top, diag, left = _layout(str(tmp_path))
    pipeline = [dict(type='LoadCheckedImageFromFile'), dict(type='LoadWSOLAnnotations'),
                dict(type='PackWSSSInputs')]
    dataset = _build(str(tmp_path), 'test', pipeline, test_mode=True)
    assert dataset.with_masks
    # masks 3 x 4 -> image 6 x 8 (nearest: every pixel becomes a 2 x 2 block)
    gt = dataset[0]['data_samples'].gt_sem_seg.data[0]
    fg = np.kron(top | diag, np.ones((2, 2), bool))
    ign = np.kron(left & ~(top | diag), np.ones((2, 2), bool))
    expected = np.where(fg, 2, np.where(ign, 255, 0))
    assert gt.shape == (6, 8) and np.array_equal(gt.numpy(), expected)
    # an image without ignore map: all object here
    assert dataset[1]['data_samples'].gt_sem_seg.data.unique().tolist() == [1]
    # protocol size: straight to 224 x 224 (W, H), one nearest resize per PNG
    load = LoadWSOLAnnotations(scale=(224, 224))
    out = load(dict(dataset.get_data_info(0)))
    ref = F.interpolate(torch.from_numpy(expected[::2, ::2]).float()[None, None], (224, 224),
                        mode='nearest')[0, 0].numpy()
    assert out['gt_seg_map'].shape == (224, 224) and np.array_equal(out['gt_seg_map'], ref)
    assert out['seg_fields'] == ['gt_seg_map']


def test_nearest_resize_matches_torch_nearest():
    mask = np.random.default_rng(0).random((7, 5)) > 0.5
    for size in ((224, 224), (3, 11), (7, 5)):
        ref = F.interpolate(torch.from_numpy(mask).float()[None, None], size, mode='nearest')
        assert np.array_equal(nearest_resize(mask, size), ref[0, 0].numpy().astype(bool))


def test_errors_name_files_and_values(tmp_path):
    root = str(tmp_path)
    _layout(root)
    with pytest.raises(FileNotFoundError, match='metadata/OpenImages/val'):
        _build(root, 'val')
    with pytest.raises(FileNotFoundError, match='localization.txt'):
        _build(root, 'train', with_masks=True)
    os.remove(osp.join(root, 'OpenImages/test/m02/d_mm02_bb.png'))
    with pytest.raises(FileNotFoundError, match='d_mm02_bb.png'):
        _build(root, 'test')
    _write(osp.join(root, 'metadata/OpenImages/train/class_labels.txt'),
           ['train/m01/a.jpg,0', 'train/m01/b.jpg,1', 'train/m02/c.jpg,1'])
    with pytest.raises(ValueError, match="class index 1 is used for the folders 'm01' and"):
        _build(root, 'train')
    _write(osp.join(root, 'metadata/OpenImages/train/class_labels.txt'), ['train/m01/a.jpg'])
    with pytest.raises(ValueError, match=r'class_labels.txt:1: expected "image_id,class_index"'):
        _build(root, 'train')
    load = LoadWSOLAnnotations()
    with pytest.raises(KeyError, match='no mask_paths'):
        load(dict(img_path='x.jpg', mask_paths=[], gt_class_labels=[0], img_shape=(2, 2)))
    with pytest.raises(ValueError, match='exactly one class'):
        load(dict(img_path='x.jpg', mask_paths=['m.png'], gt_class_labels=[0, 1],
                  img_shape=(2, 2)))
    with pytest.raises(ValueError, match='scale'):
        LoadWSOLAnnotations(scale=(0, 4))


def test_convert_seg_to_wsol_round_trip(tmp_path):
    """A 2-class segmentation image becomes two single-label WSOL entries."""
    src = tmp_path / 'seg'
    src.mkdir()
    _img(str(src / 'x.jpg'), 4, 4)
    seg = np.array([[0, 1, 1, 0], [0, 1, 255, 0], [2, 2, 0, 0], [2, 2, 0, 0]], np.uint8)
    Image.fromarray(seg).save(src / 'x.png')
    out = str(tmp_path / 'wsol')
    n = convert_seg_to_wsol([str(src / 'x.jpg')], [str(src / 'x.png')], ('a', 'b'), out, 'val')
    assert n == 2
    pipeline = [dict(type='LoadCheckedImageFromFile'), dict(type='LoadWSOLAnnotations'),
                dict(type='PackWSSSInputs')]
    dataset = _build(out, 'val', pipeline)
    assert dataset.metainfo['classes'] == ('background', 'a', 'b')
    for idx, c in enumerate((0, 1)):
        sample = dataset[idx]['data_samples']
        assert sample.gt_class_labels.tolist() == [int(i == c) for i in range(2)]
        expected = np.where(seg == c + 1, c + 1, np.where(seg == 255, 255, 0))
        assert np.array_equal(sample.gt_sem_seg.data[0].numpy(), expected)
    with pytest.raises(ValueError, match='class id 3'):
        Image.fromarray(seg + (seg == 2)).save(src / 'x.png')
        convert_seg_to_wsol([str(src / 'x.jpg')], [str(src / 'x.png')], ('a', 'b'), out)


def test_openimages30k_config_pipelines_run_on_the_layout(tmp_path):
    _layout(str(tmp_path))
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', '..', 'configs', 'mctformer',
                                   'mctformer-plus_deit-s_1xb64-60e_openimages30k-224x224.py'))
    assert cfg.model.backbone.num_classes == 100
    assert cfg.default_hooks.checkpoint.save_best == 'wsol/PxAP'
    train = cfg.train_dataloader.dataset
    test = cfg.test_dataloader.dataset
    train.data_root = test.data_root = str(tmp_path)
    train.pipeline[-1] = test.pipeline[-1] = dict(type='PackWSSSInputs', num_classes=2)
    assert 'RandAugment' in [t['type'] for t in train.pipeline]
    with DefaultScope.overwrite_default_scope('mmseg'):
        sample = DATASETS.build(train)[0]
        assert sample['inputs'].shape == (3, 224, 224)
        assert sample['data_samples'].gt_class_labels.tolist() == [1, 0]
        sample = DATASETS.build(test)[0]
    # the protocol's 224 x 224 image and mask; the original size is kept for the maps
    assert sample['inputs'].shape == (3, 224, 224)
    assert sample['data_samples'].gt_sem_seg.data.shape == (1, 224, 224)
    assert sample['data_samples'].ori_shape == (6, 8)
