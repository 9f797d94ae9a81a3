import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from mmseg_mctformer.datasets import (
    COCO_CLASSES,
    COCOWSSSDataset,
    DemoWSSSDataset,
    VOCWSSSDataset,
    WSSSBaseDataset,
    labels_from_mask,
    load_label_file,
    save_label_file,
)
from mmseg_mctformer.datasets.utils import (
    read_mask,
    unwrap_dataset_cfg,
    visible_labels,
    voc_colormap,
)

SPLIT = 'ImageSets/Segmentation/train_aug.txt'


def write_mask(path, mask, mode='P'):
    img = Image.fromarray(np.asarray(mask, dtype=np.uint8), mode=mode)
    if mode == 'P':
        img.putpalette(np.array(voc_colormap(256), dtype=np.uint8).ravel().tolist())
    img.save(path)


def make_layout(root, masks, mask_dir='SegmentationClassAug', split=SPLIT, img_size=(6, 8)):
    """Tiny VOC layout: one black JPEG and one mask per entry of ``masks`` (name -> array)."""
    with_masks = any(m is not None for m in masks.values())
    for sub in ('JPEGImages', mask_dir if with_masks else None, osp.dirname(split)):
        if sub:
            (root / sub).mkdir(parents=True, exist_ok=True)
    for name, mask in masks.items():
        cv2.imwrite(str(root / 'JPEGImages' / f'{name}.jpg'), np.zeros(img_size + (3, ), np.uint8))
        if mask is not None:
            write_mask(root / mask_dir / f'{name}.png', mask)
    (root / split).write_text(''.join(f'{n}\n' for n in masks))
    return root


def voc_masks():
    a = np.zeros((6, 8), np.uint8)
    a[0, :2] = 1        # aeroplane -> 0
    a[3, 3] = 3         # bird -> 2
    b = np.full((6, 8), 255, np.uint8)
    b[1, 1] = 20        # tvmonitor -> 19
    b[2, 2] = 0
    c = np.zeros((6, 8), np.uint8)  # background only: no label
    d = np.array([[5, 255], [255, 5]], np.uint8)  # bottle -> 4 (ignore does not count)
    return dict(a=a, b=b, c=c, d=d)


def test_labels_from_mask_hand_made():
    mask = np.array([[0, 1, 1], [255, 3, 0]], np.uint8)
    assert labels_from_mask(mask, num_classes=3) == [0, 2]
    assert labels_from_mask(np.zeros((2, 2), np.uint8), 3) == []
    assert labels_from_mask(np.full((2, 2), 255, np.uint8), 3) == []
    # other integer types and a custom ignore index
    assert labels_from_mask(np.array([[2, 7]], np.int32), 2, ignore_index=7) == [1]
    with pytest.raises(ValueError, match=r'm\.png holds class id\(s\) \[4\]'):
        labels_from_mask(np.array([[0, 4]], np.uint8), 3, path='m.png')
    with pytest.raises(ValueError, match='negative class id -1'):
        labels_from_mask(np.array([[-1, 0]], np.int32), 3)


def test_visible_labels_ignores_barely_visible_objects():
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[:5, :5] = 1  # class 0: 25 pixels
    mask[9, :3] = 3  # class 2: 3 pixels
    assert visible_labels(mask, [0, 1, 2], min_pixels=4) == [0]
    assert (mask == 255).sum() == 3 and (mask == 1).sum() == 25
    assert visible_labels(mask, [2], min_pixels=1) == []  # nothing of class 2 is left


def test_voc_colormap_matches_mmseg_voc_palette():
    assert voc_colormap(21) == [list(c) for c in VOCWSSSDataset.METAINFO['palette']]


def test_label_file_round_trip(tmp_path):
    path = str(tmp_path / 'labels.npy')
    save_label_file(path, {'x': [0, 2], 'y': []}, num_classes=3)
    raw = np.load(path, allow_pickle=True).item()
    np.testing.assert_array_equal(raw['x'], np.array([1, 0, 1], np.float32))
    assert load_label_file(path, 3) == {'x': [0, 2], 'y': []}
    with pytest.raises(ValueError, match=r"entry 'x' has 3 values, expected 20"):
        load_label_file(path, 20)
    with pytest.raises(FileNotFoundError, match='nope.npy'):
        load_label_file(str(tmp_path / 'nope.npy'), 3)
    np.save(str(tmp_path / 'arr.npy'), np.zeros(3))
    with pytest.raises(ValueError, match='must hold a dict'):
        load_label_file(str(tmp_path / 'arr.npy'), 3)


def test_voc_labels_from_masks(tmp_path):
    make_layout(tmp_path, voc_masks())
    with pytest.warns(UserWarning, match='skipped 1 of 4 images'):
        ds = VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    assert ds.num_classes == 20
    assert len(ds) == 3
    infos = [ds.get_data_info(i) for i in range(3)]
    assert [i['gt_class_labels'] for i in infos] == [[0, 2], [19], [4]]
    first = infos[0]
    assert first['img_path'] == osp.join(str(tmp_path), 'JPEGImages', 'a.jpg')
    assert first['seg_map_path'] == osp.join(str(tmp_path), 'SegmentationClassAug', 'a.png')
    assert first['reduce_zero_label'] is False
    assert first['seg_fields'] == []
    assert ds.metainfo['classes'][0] == 'background' and len(ds.metainfo['classes']) == 21

    kept = VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT, skip_empty=False)
    assert [kept.get_data_info(i)['gt_class_labels'] for i in range(4)] == [[0, 2], [19], [], [4]]


def test_voc_label_file_without_masks(tmp_path):
    make_layout(tmp_path, dict(a=None, b=None))
    save_label_file(str(tmp_path / 'cls_labels.npy'), {'a': [3], 'b': [1, 19], 'z': [0]}, 20)
    ds = VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT, label_file='cls_labels.npy')
    assert not ds.has_masks
    assert [ds.get_data_info(i)['gt_class_labels'] for i in range(2)] == [[3], [1, 19]]
    assert ds.get_data_info(0)['seg_map_path'] is None

    # the mask folder absent and no label file: nothing to take labels from
    with pytest.raises(FileNotFoundError, match='SegmentationClassAug.*label_file'):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)


def test_label_file_overrides_masks_and_reports_missing_names(tmp_path):
    make_layout(tmp_path, voc_masks())
    save_label_file(str(tmp_path / 'cls.npy'), {n: [7] for n in 'abcd'}, 20)
    ds = VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT, label_file='cls.npy')
    assert ds.has_masks
    assert [ds.get_data_info(i)['gt_class_labels'] for i in range(4)] == [[7]] * 4
    save_label_file(str(tmp_path / 'part.npy'), {'a': [7], 'b': [7]}, 20)
    with pytest.raises(KeyError, match=r"part\.npy has no entry for 2 image\(s\).*\['c', 'd'\]"):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT, label_file='part.npy')
    save_label_file(str(tmp_path / 'short.npy'), {n: [1] for n in 'abcd'}, 6)
    with pytest.raises(ValueError, match=r"short\.npy: entry 'a' has 6 values, expected 20"):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT, label_file='short.npy')


def test_label_cache(tmp_path):
    make_layout(tmp_path, voc_masks())
    kwargs = dict(data_root=str(tmp_path), ann_file=SPLIT, label_cache='cache/labels.npy')
    ds = VOCWSSSDataset(**kwargs, skip_empty=False)
    assert load_label_file(str(tmp_path / 'cache/labels.npy'), 20) == dict(
        a=[0, 2], b=[19], c=[], d=[4])
    # the cache is read instead of the masks (a changed mask is not seen until it is deleted)
    write_mask(tmp_path / 'SegmentationClassAug' / 'c.png', np.full((6, 8), 9))
    ds = VOCWSSSDataset(**kwargs, skip_empty=False)
    assert ds.get_data_info(2)['gt_class_labels'] == []


def test_missing_image_names_split_file(tmp_path):
    make_layout(tmp_path, voc_masks())
    with open(tmp_path / SPLIT, 'a') as f:
        f.write('ghost1\nghost2\n')
    msg = re.escape(f'2 image(s) listed in {tmp_path / SPLIT}') + '.*ghost1.jpg.*ghost2.jpg'
    with pytest.raises(FileNotFoundError, match=msg):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)


def test_missing_mask_and_missing_split(tmp_path):
    make_layout(tmp_path, voc_masks())
    (tmp_path / 'SegmentationClassAug' / 'b.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'1 mask\(s\) listed in .*b\.png'):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    with pytest.raises(FileNotFoundError, match=r'split file \(ann_file\) .*val\.txt'):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file='ImageSets/Segmentation/val.txt')
    with pytest.raises(FileNotFoundError, match=r'image folder .*Images'):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT,
                       data_prefix=dict(img_path='Images', seg_map_path='SegmentationClassAug'))


def test_mask_class_beyond_count_and_rgb_mask(tmp_path):
    masks = voc_masks()
    masks['b'][0, 0] = 21
    make_layout(tmp_path, masks)
    with pytest.raises(ValueError, match=r'b\.png holds class id\(s\) \[21\]'):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(tmp_path / 'SegmentationClassAug/b.png')
    with pytest.raises(ValueError, match=r"b\.png must be a single-channel .* mode 'RGB'"):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    (tmp_path / 'SegmentationClassAug/b.png').write_bytes(b'not a png')
    with pytest.raises(OSError, match=r'b\.png cannot be read'):
        read_mask(str(tmp_path / 'SegmentationClassAug/b.png'))


def test_grey_mask_and_split_free_listing(tmp_path):
    make_layout(tmp_path, dict(a=None))
    (tmp_path / 'SegmentationClassAug').mkdir()
    write_mask(tmp_path / 'SegmentationClassAug/a.png', np.array([[0, 2]]), mode='L')
    # no ann_file: every image of the image folder
    ds = VOCWSSSDataset(data_root=str(tmp_path))
    assert len(ds) == 1 and ds.get_data_info(0)['gt_class_labels'] == [1]


def test_coco_dataset(tmp_path):
    assert len(COCO_CLASSES) == 80 and COCO_CLASSES[0] == 'person'
    assert COCO_CLASSES[-1] == 'toothbrush'
    meta = COCOWSSSDataset.METAINFO
    assert meta['classes'][0] == 'background' and len(meta['classes']) == 81
    assert len(meta['palette']) == 81 and len({tuple(c) for c in meta['palette']}) == 81
    masks = dict(COCO_train2014_000000000009=np.array([[0, 1], [80, 255]], np.uint8))
    make_layout(tmp_path, masks, mask_dir='SegmentationClass', split='ImageSets/train.txt')
    ds = COCOWSSSDataset(data_root=str(tmp_path), ann_file='ImageSets/train.txt')
    assert ds.num_classes == 80
    assert ds.get_data_info(0)['gt_class_labels'] == [0, 79]
    write_mask(tmp_path / 'SegmentationClass/COCO_train2014_000000000009.png', [[81]])
    with pytest.raises(ValueError, match=r'000000009\.png holds class id\(s\) \[81\]'):
        COCOWSSSDataset(data_root=str(tmp_path), ann_file='ImageSets/train.txt')


def test_demo_dataset_metainfo_and_guards(tmp_path):
    assert DemoWSSSDataset.METAINFO['classes'] == ('background', 'tshirt', 'trouser', 'dress',
                                                   'sandal', 'bag', 'ankle_boot')
    assert len(DemoWSSSDataset.METAINFO['palette']) == 7
    make_layout(tmp_path, dict(a=np.array([[6, 0]], np.uint8)))
    # a folder without meta.json: an error naming the file, never another dataset's names
    with pytest.raises(FileNotFoundError, match=r'meta\.json is missing.*"classes"'):
        DemoWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    with pytest.raises(FileNotFoundError, match='no data_root'):
        DemoWSSSDataset(ann_file=str(tmp_path / SPLIT))
    (tmp_path / 'meta.json').write_text(json.dumps({'version': 1}))
    with pytest.raises(ValueError, match=r'meta\.json has no "classes" entry'):
        DemoWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    (tmp_path / 'meta.json').write_text(
        json.dumps(dict(classes=list(DemoWSSSDataset.METAINFO['classes']))))
    ds = DemoWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    assert ds.num_classes == 6 and ds.get_data_info(0)['gt_class_labels'] == [5]
    with pytest.raises(ValueError, match='class subsets are not supported'):
        DemoWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT,
                        metainfo=dict(classes=('background', 'bag')))
    with pytest.raises(ValueError, match='reduce_zero_label must be False'):
        DemoWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT, reduce_zero_label=True)
    with pytest.raises(ValueError, match='background followed by the foreground'):
        WSSSBaseDataset(data_root=str(tmp_path), ann_file=SPLIT,
                        data_prefix=dict(img_path='JPEGImages',
                                         seg_map_path='SegmentationClassAug'))


def test_demo_dataset_class_names_from_generated_meta(tmp_path):
    make_layout(tmp_path, dict(a=np.array([[2, 0]], np.uint8)))
    names = ('background', 'fruit', 'animal', 'vehicle', 'ball', 'plant', 'building')
    (tmp_path / 'meta.json').write_text(json.dumps(dict(source='emoji', classes=list(names))))
    ds = DemoWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    # the folder's own names, the ids as written (no label map), one colour per class
    assert ds.metainfo['classes'] == names and ds.metainfo['label_map'] is None
    assert len(ds.metainfo['palette']) == 7 and ds.get_data_info(0)['gt_class_labels'] == [1]
    # names given in the config win over the folder's
    ds = DemoWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT,
                         metainfo=dict(classes=DemoWSSSDataset.METAINFO['classes']))
    assert ds.metainfo['classes'][1] == 'tshirt'
    (tmp_path / 'meta.json').write_text(json.dumps(dict(classes=['fruit', 'animal'])))
    with pytest.raises(ValueError, match=r'meta\.json.*"background"'):
        DemoWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    (tmp_path / 'meta.json').write_text('{not json')
    with pytest.raises(ValueError, match=r'cannot read .*meta\.json'):
        DemoWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)


def test_empty_split_and_blank_lines(tmp_path):
    make_layout(tmp_path, voc_masks())
    split = tmp_path / SPLIT
    split.write_text('\na\n\n  \nb\n\n')  # blank and whitespace-only lines are ignored
    ds = VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    assert [osp.basename(ds.get_data_info(i)['img_path']) for i in range(len(ds))] == \
        ['a.jpg', 'b.jpg']
    split.write_text('')
    with pytest.raises(ValueError, match=re.escape(f'the split {split} lists no images')):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    split.write_text('c\n')  # background only: skip_empty would leave nothing to train on
    with pytest.raises(ValueError, match=re.escape(f'none of the 1 images of {split} has a '
                                                   'foreground label')):
        VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT)
    assert len(VOCWSSSDataset(data_root=str(tmp_path), ann_file=SPLIT, skip_empty=False)) == 1


def test_unwrap_dataset_cfg_follows_loaders_and_wrappers():
    leaf = dict(type='VOCWSSSDataset', data_root='d')
    loader = dict(batch_size=2, dataset=dict(type='RepeatDataset', times=3, dataset=leaf))
    assert unwrap_dataset_cfg(loader) is leaf
    assert unwrap_dataset_cfg(loader['dataset']) is leaf
    assert unwrap_dataset_cfg(leaf) is leaf
