import json
import os
import os.path as osp
import runpy
import sys

import numpy as np
import pytest

from mmseg_mctformer.datasets import DemoWSSSDataset, generate_demo_dataset, load_fashion_mnist
from mmseg_mctformer.datasets.demo_generator import (
    EMOJI_CLASSES,
    EMOJI_FONT,
    FASHION_MNIST_DIR,
    FASHION_MNIST_TO_DEMO,
    load_emoji_objects,
    render_scene,
)
from mmseg_mctformer.datasets.utils import labels_from_mask, read_mask

pytestmark = pytest.mark.skipif(
    not osp.isfile(osp.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')),
    reason='Fashion-MNIST (Debian package dataset-fashion-mnist) is not installed')

SMALL = dict(num_train=12, num_val=8, img_size=64)
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def tree_bytes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = osp.join(dirpath, f)
            with open(path, 'rb') as fh:
                out[osp.relpath(path, root)] = fh.read()
    return out


@pytest.fixture(scope='module')
def demo_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'data')
    generate_demo_dataset(root, seed=0, **SMALL)
    return root


def test_load_fashion_mnist(tmp_path):
    images, labels = load_fashion_mnist('t10k')
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000, ) and set(np.unique(labels)) == set(range(10))
    with pytest.raises(FileNotFoundError, match='dataset-fashion-mnist'):
        load_fashion_mnist('t10k', root=str(tmp_path))
    with pytest.raises(ValueError, match="'test'"):
        load_fashion_mnist('test')


def test_render_scene_labels_agree_with_mask():
    images, labels = load_fashion_mnist('t10k')
    objects = {demo: images[labels == fm][:50] for fm, demo in FASHION_MNIST_TO_DEMO.items()}
    for i in range(20):
        img, mask, lab = render_scene(np.random.default_rng(i), objects, img_size=48)
        assert img.shape == (48, 48, 3) and img.dtype == np.uint8 and mask.dtype == np.uint8
        assert lab and labels_from_mask(mask, 6) == lab
        counts = np.bincount(mask.ravel(), minlength=256)
        assert all(counts[c + 1] >= 20 for c in lab)
        again = render_scene(np.random.default_rng(i), objects, img_size=48)
        np.testing.assert_array_equal(again[0], img)
        np.testing.assert_array_equal(again[1], mask)


def test_layout_labels_and_masks_agree(demo_dir):
    seg = osp.join(demo_dir, 'ImageSets', 'Segmentation')
    train = open(osp.join(seg, 'train.txt')).read().split()
    assert train == [f'train_{i:05d}' for i in range(12)]
    assert open(osp.join(seg, 'train_aug.txt')).read().split() == train
    val = open(osp.join(seg, 'val.txt')).read().split()
    assert val == [f'val_{i:05d}' for i in range(8)]
    table = np.load(osp.join(demo_dir, 'cls_labels.npy'), allow_pickle=True).item()
    assert sorted(table) == sorted(train + val)
    for name in train + val:
        mask = read_mask(osp.join(demo_dir, 'SegmentationClassAug', name + '.png'))
        assert mask.shape == (64, 64)
        labels = labels_from_mask(mask, 6)
        assert labels and labels == np.flatnonzero(table[name]).tolist()
        counts = np.bincount(mask.ravel(), minlength=256)
        assert all(counts[c + 1] >= 20 for c in labels)
    meta = json.load(open(osp.join(demo_dir, 'meta.json')))
    assert meta['num_train'] == 12 and meta['splits']['val']['images'] == 8


def test_deterministic_bytes(demo_dir, tmp_path):
    same = str(tmp_path / 'same')
    meta = generate_demo_dataset(same, seed=0, **SMALL)
    assert meta['generated']
    assert tree_bytes(same) == tree_bytes(demo_dir)
    other = str(tmp_path / 'other')
    generate_demo_dataset(other, seed=1, **SMALL)
    a, b = tree_bytes(demo_dir), tree_bytes(other)
    assert a.keys() == b.keys()
    assert a['JPEGImages/train_00000.jpg'] != b['JPEGImages/train_00000.jpg']
    # scene i does not depend on the number of scenes
    fewer = str(tmp_path / 'fewer')
    generate_demo_dataset(fewer, seed=0, num_train=3, num_val=1, img_size=64)
    assert tree_bytes(fewer)['JPEGImages/train_00002.jpg'] == a['JPEGImages/train_00002.jpg']


def test_skip_regenerate_and_refuse(tmp_path):
    out = str(tmp_path / 'demo')
    assert generate_demo_dataset(out, seed=0, num_train=2, num_val=1, img_size=32)['generated']
    stamp = os.stat(osp.join(out, 'meta.json')).st_mtime_ns
    assert not generate_demo_dataset(out, seed=0, num_train=2, num_val=1,
                                     img_size=32)['generated']
    assert os.stat(osp.join(out, 'meta.json')).st_mtime_ns == stamp
    # other parameters: replaced in place, no leftovers beside it
    assert generate_demo_dataset(out, seed=0, num_train=3, num_val=1, img_size=32)['generated']
    assert len(os.listdir(osp.join(out, 'JPEGImages'))) == 4
    assert os.listdir(str(tmp_path)) == ['demo']
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'keep.txt').write_text('user data')
    with pytest.raises(FileExistsError, match='foreign exists but has no demo meta.json'):
        generate_demo_dataset(str(foreign), num_train=2, num_val=1, img_size=32)
    assert (foreign / 'keep.txt').read_text() == 'user data'
    with pytest.raises(ValueError, match='img_size must be >= 32'):
        generate_demo_dataset(str(tmp_path / 'x'), img_size=16)


def test_dataset_reads_demo(demo_dir):
    kwargs = dict(data_root=demo_dir, ann_file='ImageSets/Segmentation/train_aug.txt')
    from_masks = DemoWSSSDataset(**kwargs)
    from_file = DemoWSSSDataset(**kwargs, label_file='cls_labels.npy')
    assert len(from_masks) == len(from_file) == 12
    for i in range(12):
        assert (from_masks.get_data_info(i)['gt_class_labels'] ==
                from_file.get_data_info(i)['gt_class_labels'])


def test_cli(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'cli')
    argv = ['make_demo_data.py', out, '--num-train', '2', '--num-val', '1', '--img-size', '32']
    monkeypatch.setattr(sys, 'argv', argv)
    runpy.run_path(osp.join(REPO, 'tools', 'make_demo_data.py'), run_name='__main__')
    assert 'Wrote 2 train + 1 val images' in capsys.readouterr().out
    assert len(os.listdir(osp.join(out, 'JPEGImages'))) == 3


@pytest.mark.skipif(not osp.isfile(EMOJI_FONT),
                    reason='Noto Color Emoji (Debian fonts-noto-color-emoji) is not installed')
def test_emoji_source_is_exact_and_reproducible(tmp_path):
    objects = load_emoji_objects()
    assert sorted(objects) == list(range(6)) and all(len(v) == 8 for v in objects.values())
    assert all(o.ndim == 3 and o.shape[2] == 4 for v in objects.values() for o in v)
    params = dict(num_train=4, num_val=2, img_size=48, source='emoji')
    meta = generate_demo_dataset(str(tmp_path / 'a'), **params)
    assert meta['source'] == 'emoji' and meta['classes'] == list(EMOJI_CLASSES)
    assert generate_demo_dataset(str(tmp_path / 'a'), **params)['generated'] is False
    # a Fashion-MNIST request does not take the emoji folder for its own
    assert generate_demo_dataset(str(tmp_path / 'a'), num_train=4, num_val=2, img_size=48,
                                 seed=0)['generated'] is True
    generate_demo_dataset(str(tmp_path / 'a'), **params)
    generate_demo_dataset(str(tmp_path / 'b'), **params)
    assert tree_bytes(str(tmp_path / 'a')) == tree_bytes(str(tmp_path / 'b'))
    labels = np.load(str(tmp_path / 'a' / 'cls_labels.npy'), allow_pickle=True).item()
    for name, vec in labels.items():
        mask = read_mask(str(tmp_path / 'a' / 'SegmentationClassAug' / f'{name}.png'))
        assert list(labels_from_mask(mask, 6)) == np.flatnonzero(vec).tolist()
    with pytest.raises(ValueError, match='source'):
        generate_demo_dataset(str(tmp_path / 'c'), source='mnist')
