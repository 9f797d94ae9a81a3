"""COCO 2014 instances -> WSSS masks, split files and labels, on a hand-made instances file."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmseg_mctformer.datasets import COCO_CLASSES, COCOWSSSDataset, load_label_file
from mmseg_mctformer.datasets.converters.coco2014 import category_to_label, convert_coco2014

needs_pycocotools = pytest.mark.skipif(importlib.util.find_spec('pycocotools') is None,
                                       reason='pycocotools not installed (requirements/tests.txt)')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
# the 80 COCO category ids: 1..90 without the 10 unused ones
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
CATEGORIES = [dict(id=i, name=n) for i, n in zip(COCO_IDS, COCO_CLASSES)]
PERSON, CAR, DOG, TOOTHBRUSH = 1, 3, 18, 90  # category ids; mask values 1, 3, 17, 80
X = 255  # ignore
# image 1 (6 x 8): two persons (overlapping, same class), a dog overlapping one person at (2, 3),
# a crowd of cars over column 7
EXPECTED_1 = np.array([
    [0, 1, 1, 0, 0, 0, 0, X],
    [0, 1, 1, 1, 0, 0, 0, X],
    [0, 1, 1, X, 17, 17, 0, X],
    [0, 0, 0, 17, 17, 17, 0, X],
    [0, 0, 0, 17, 17, 17, 0, X],
    [0, 0, 0, 0, 0, 0, 0, X]], np.uint8)


def rect(x0, y0, x1, y1):
    """Polygon covering columns x0..x1-1 and rows y0..y1-1 (pycocotools' rasteriser)."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def write_coco(root, split, images, annotations, categories=CATEGORIES):
    img_dir = osp.join(root, f'{split}2014')
    for img in images:
        Image.new('RGB', (img['width'], img['height'])).save(osp.join(img_dir, img['file_name']))
    ann_file = osp.join(root, 'annotations', f'instances_{split}2014.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return ann_file


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / 'coco'
    for sub in ('annotations', 'train2014', 'val2014'):
        (root / sub).mkdir(parents=True)
    train_images = [
        dict(id=1, file_name='COCO_train2014_000000000001.jpg', height=6, width=8),
        dict(id=2, file_name='COCO_train2014_000000000002.jpg', height=6, width=8),  # no ann.
        dict(id=3, file_name='COCO_train2014_000000000003.jpg', height=4, width=5)]
    train_anns = [
        dict(id=10, image_id=1, category_id=PERSON, iscrowd=0, segmentation=rect(1, 1, 4, 3)),
        dict(id=11, image_id=1, category_id=PERSON, iscrowd=0, segmentation=rect(1, 0, 3, 2)),
        dict(id=12, image_id=1, category_id=DOG, iscrowd=0, segmentation=rect(3, 2, 6, 5)),
        # uncompressed RLE, column-major: 42 zeros (columns 0-6), then column 7
        dict(id=13, image_id=1, category_id=CAR, iscrowd=1,
             segmentation=dict(counts=[42, 6], size=[6, 8])),
        dict(id=14, image_id=3, category_id=TOOTHBRUSH, iscrowd=0,
             segmentation=rect(0, 0, 5, 4))]
    write_coco(str(root), 'train', train_images, train_anns)
    val_images = [dict(id=7, file_name='COCO_val2014_000000000007.jpg', height=4, width=4)]
    val_anns = [dict(id=20, image_id=7, category_id=DOG, iscrowd=0, segmentation=rect(0, 0, 2, 4))]
    write_coco(str(root), 'val', val_images, val_anns)
    return str(root)


def read(path):
    return np.array(Image.open(path))


@needs_pycocotools
def test_masks_splits_labels_and_links(coco_root, tmp_path):
    out = str(tmp_path / 'coco2014')
    counts = convert_coco2014(coco_root, out, subset_size=1)
    assert counts == dict(train=2, val=1)
    seg = osp.join(out, 'SegmentationClass')
    np.testing.assert_array_equal(read(osp.join(seg, 'COCO_train2014_000000000001.png')),
                                  EXPECTED_1)
    # category id 90 (the last of 80 after 10 gaps) is mask value 80
    assert (read(osp.join(seg, 'COCO_train2014_000000000003.png')) == 80).all()
    val_mask = read(osp.join(seg, 'COCO_val2014_000000000007.png'))
    assert (val_mask[:, :2] == 17).all() and (val_mask[:, 2:] == 0).all()
    assert not osp.exists(osp.join(seg, 'COCO_train2014_000000000002.png'))
    with open(osp.join(out, 'ImageSets', 'train.txt')) as f:
        assert f.read().split() == ['COCO_train2014_000000000001', 'COCO_train2014_000000000003']
    with open(osp.join(out, 'ImageSets', 'train_5k.txt')) as f:
        assert len(f.read().split()) == 1
    labels = load_label_file(osp.join(out, 'cls_labels.npy'), 80)
    # the crowd's class (car, 2) is an image label although its pixels are ignored
    assert labels == {'COCO_train2014_000000000001': [0, 2, 16],
                      'COCO_train2014_000000000003': [79],
                      'COCO_val2014_000000000007': [16]}
    assert osp.islink(osp.join(out, 'JPEGImages', 'COCO_val2014_000000000007.jpg'))
    # the dataset of the COCO configs reads the result (labels from the masks or the label file)
    for label_file in (None, 'cls_labels.npy'):
        ds = COCOWSSSDataset(data_root=out, ann_file='ImageSets/train.txt',
                             label_file=label_file, pipeline=[], serialize_data=False)
        assert [d['gt_class_labels'] for d in ds.data_list] == (
            [[0, 16], [79]] if label_file is None else [[0, 2, 16], [79]])


@needs_pycocotools
def test_rerun_resumes_and_keeps_the_other_split(coco_root, tmp_path):
    out = str(tmp_path / 'coco2014')
    convert_coco2014(coco_root, out, splits=['val'], link_images=False)
    mask = osp.join(out, 'SegmentationClass', 'COCO_val2014_000000000007.png')
    stamp = osp.getmtime(mask)
    convert_coco2014(coco_root, out, splits=['train'], link_images=False, subset_size=0)
    convert_coco2014(coco_root, out, splits=['val'], link_images=False)
    assert osp.getmtime(mask) == stamp  # kept, not rewritten
    labels = load_label_file(osp.join(out, 'cls_labels.npy'), 80)
    assert len(labels) == 3
    assert not osp.exists(osp.join(out, 'JPEGImages'))


@needs_pycocotools
def test_tool_parses_and_runs(coco_root, tmp_path):
    path = osp.join(ROOT, 'tools', 'dataset_converters', 'coco2014_wsss.py')
    spec = importlib.util.spec_from_file_location('coco2014_wsss', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main([coco_root, '-o', str(tmp_path / 'out'), '--nproc', '2', '--splits', 'val'])
    assert osp.isfile(tmp_path / 'out' / 'ImageSets' / 'val.txt')


def test_91_categories_or_other_names_are_refused():
    with pytest.raises(ValueError, match=r'instances_x\.json.*80 COCO categories'):
        category_to_label(CATEGORIES + [dict(id=91, name='hat')], 'instances_x.json')
    renamed = [dict(c, name='sofa') if c['name'] == 'couch' else c for c in CATEGORIES]
    with pytest.raises(ValueError, match="'sofa', 'couch'"):
        category_to_label(renamed)


def test_missing_instances_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='instances_val2014.json does not exist'):
        convert_coco2014(str(tmp_path), str(tmp_path / 'out'), splits=['val'])
    with pytest.raises(ValueError, match=r"splits \['test'\] unknown"):
        convert_coco2014(str(tmp_path), str(tmp_path / 'out'), splits=['test'])
