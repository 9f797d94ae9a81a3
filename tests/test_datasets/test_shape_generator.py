"""The shape sources of tools/make_demo_data.py: exact masks, labels, determinism, meta.json."""
import json
import os.path as osp

import numpy as np
import pytest

from mmseg_mctformer.datasets import DemoWSSSDataset, generate_demo_dataset
from mmseg_mctformer.datasets.shape_generator import (
    SHAPE_SOURCES,
    SHAPES,
    load_photo_bank,
    render_shape_scene,
    shape_classes,
    shape_mask,
)
from mmseg_mctformer.datasets.utils import labels_from_mask, read_mask


def test_shape_masks_differ_and_fill_the_canvas():
    masks = {n: shape_mask(np.random.default_rng(0), n, 40) >= 0.5 for n in SHAPES}
    for name, mask in masks.items():
        assert mask.shape == (40, 40) and 0.15 < mask.mean() < 0.9, name
    # the ring is the circle with a hole, the crescent a bitten disc: fewer pixels than a circle
    circle = shape_mask(np.random.default_rng(3), 'circle', 40) >= 0.5
    assert (shape_mask(np.random.default_rng(3), 'ring', 40) >= 0.5).sum() < 0.8 * circle.sum()
    assert len({m.tobytes() for m in masks.values()}) == len(SHAPES)
    with pytest.raises(ValueError, match="unknown shape 'oval'"):
        shape_mask(np.random.default_rng(0), 'oval', 40)


@pytest.mark.parametrize('photo', [False, True])
def test_render_shape_scene_labels_agree_with_mask(photo):
    bank = load_photo_bank() if photo else None
    classes = SHAPES[:6]
    for i in range(6):
        img, mask, labels = render_shape_scene(np.random.default_rng(i), classes, 48,
                                               photo_bank=bank)
        assert img.shape == (48, 48, 3) and img.dtype == np.uint8 and mask.dtype == np.uint8
        assert labels and labels_from_mask(mask, 6) == labels
        counts = np.bincount(mask.ravel(), minlength=256)
        assert all(counts[c + 1] >= 20 for c in labels)
        again = render_shape_scene(np.random.default_rng(i), classes, 48, photo_bank=bank)
        np.testing.assert_array_equal(again[0], img)
        np.testing.assert_array_equal(again[1], mask)


def test_photo_bank_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'grace_hopper\.jpg is missing'):
        load_photo_bank(str(tmp_path))


@pytest.mark.parametrize('source', sorted(SHAPE_SOURCES))
def test_generate_shape_source(source, tmp_path):
    out = str(tmp_path / source)
    meta = generate_demo_dataset(out, num_train=3, num_val=2, img_size=48, source=source)
    names = shape_classes(source)
    assert meta['source'] == source and meta['classes'] == list(names)
    num = SHAPE_SOURCES[source]['num_classes']
    assert len(names) == num + 1
    with open(osp.join(out, 'meta.json')) as f:
        assert json.load(f)['classes'] == list(names)
    table = np.load(osp.join(out, 'cls_labels.npy'), allow_pickle=True).item()
    assert len(table) == 5
    for name, vec in table.items():
        mask = read_mask(osp.join(out, 'SegmentationClassAug', name + '.png'))
        assert len(vec) == num and labels_from_mask(mask, num) == np.flatnonzero(vec).tolist()
    ds = DemoWSSSDataset(data_root=out, ann_file='ImageSets/Segmentation/train.txt')
    assert ds.metainfo['classes'] == names and ds.num_classes == num and len(ds) == 3
    # same parameters: kept; a second folder is byte-identical
    assert not generate_demo_dataset(out, num_train=3, num_val=2, img_size=48,
                                     source=source)['generated']
    other = str(tmp_path / 'again')
    generate_demo_dataset(other, num_train=3, num_val=2, img_size=48, source=source)
    for sub in ('JPEGImages/train_00002.jpg', 'SegmentationClassAug/val_00001.png'):
        with open(osp.join(out, sub), 'rb') as a, open(osp.join(other, sub), 'rb') as b:
            assert a.read() == b.read()
