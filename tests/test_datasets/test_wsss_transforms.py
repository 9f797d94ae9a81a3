import json
from typing import List

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS, TRANSFORMS
from PIL import Image

import mmseg_mctformer  # noqa: F401  (registration)
from mmseg_mctformer.datasets import (
    DEMO_CLASSES,
    LoadCheckedImageFromFile,
    LoadImageLevelLabels,
    PackWSSSInputs,
)

SPLIT = 'ImageSets/Segmentation/val.txt'


def wsss_train_pipeline(num_classes: int,
                        crop_size: int = 224,
                        crop_ratio_range=(0.08, 1.0),
                        flip_prob: float = 0.5,
                        color_jitter: float = 0.4) -> List[dict]:
    """DeiT's crop / flip / colour augmentation with mmpretrain's transforms, as config dicts.

    Args:
        num_classes (int): Number of foreground classes ``C``.
        crop_size (int): Side of the random resized crop. Default: 224.
        crop_ratio_range (tuple[float, float]): Crop area range of the image area.
            Default: ``(0.08, 1.0)``.
        flip_prob (float): Horizontal flip probability. Default: 0.5.
        color_jitter (float): Brightness, contrast and saturation jitter. Default: 0.4.

    Returns:
        list[dict]: Transform configs.
    """
    return [
        dict(type='LoadCheckedImageFromFile'),
        dict(type='mmpretrain.RandomResizedCrop', scale=crop_size,
             crop_ratio_range=tuple(crop_ratio_range)),
        dict(type='RandomFlip', prob=flip_prob),
        dict(type='mmpretrain.ColorJitter', brightness=color_jitter, contrast=color_jitter,
             saturation=color_jitter),
        dict(type='PackWSSSInputs', num_classes=num_classes),
    ]


def wsss_test_pipeline(num_classes: int, with_mask: bool = True) -> List[dict]:
    """Seed inference as config dicts (original image size, GT mask when available).

    Args:
        num_classes (int): Number of foreground classes ``C``.
        with_mask (bool): Load the GT mask (``LoadAnnotations``). Default: True.

    Returns:
        list[dict]: Transform configs.
    """
    pipeline = [dict(type='LoadCheckedImageFromFile')]
    if with_mask:
        pipeline.append(dict(type='LoadAnnotations'))
    pipeline.append(dict(type='PackWSSSInputs', num_classes=num_classes))
    return pipeline


@pytest.fixture(autouse=True)
def mmseg_scope():
    name = 'test_wsss_transforms'
    scope = DefaultScope.get_instance(name, scope_name='mmseg')
    with DefaultScope.overwrite_default_scope(scope.scope_name):
        yield


@pytest.fixture
def demo_layout(tmp_path):
    """Two 10 x 14 images with masks, demo classes (C = 6)."""
    for sub in ('JPEGImages', 'SegmentationClassAug', 'ImageSets/Segmentation'):
        (tmp_path / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    masks = dict(p=np.zeros((10, 14), np.uint8), q=np.zeros((10, 14), np.uint8))
    masks['p'][2:5, 3:9] = 2
    masks['q'][5:, :] = 6
    masks['q'][0, 0] = 255
    for name, mask in masks.items():
        img = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / 'JPEGImages' / f'{name}.jpg'), img)
        Image.fromarray(mask, mode='L').save(tmp_path / 'SegmentationClassAug' / f'{name}.png')
    (tmp_path / SPLIT).write_text('p\nq\n')
    (tmp_path / 'meta.json').write_text(json.dumps(dict(classes=list(DEMO_CLASSES))))
    return tmp_path


def test_pack_wsss_inputs():
    pack = PackWSSSInputs(num_classes=4)
    mask = np.array([[0, 1], [3, 255]], np.uint8)
    out = pack(dict(img=np.zeros((2, 2, 3), np.uint8), gt_seg_map=mask, img_path='x.jpg',
                    gt_class_labels=[0, 2]))
    sample = out['data_samples']
    assert out['inputs'].shape == (3, 2, 2)
    labels = sample.gt_class_labels
    assert labels.dtype == torch.long and labels.shape == (4, )
    assert labels.tolist() == [1, 0, 1, 0]
    assert sample.gt_sem_seg.data.tolist() == [[[0, 1], [3, 255]]]
    assert sample.img_path == 'x.jpg'
    empty = pack(dict(img=np.zeros((2, 2, 3), np.uint8), gt_class_labels=np.array([], int)))
    assert empty['data_samples'].gt_class_labels.tolist() == [0, 0, 0, 0]

    with pytest.raises(ValueError, match=r'x\.jpg has labels \[4\] outside 0\.\.3'):
        pack(dict(img=np.zeros((2, 2, 3), np.uint8), img_path='x.jpg', gt_class_labels=[1, 4]))
    with pytest.raises(KeyError, match=r'x\.jpg has no gt_class_labels'):
        pack(dict(img=np.zeros((2, 2, 3), np.uint8), img_path='x.jpg'))
    lenient = PackWSSSInputs(num_classes=4, allow_missing_labels=True)
    out = lenient(dict(img=np.zeros((2, 2, 3), np.uint8), img_path='x.jpg'))
    assert 'gt_class_labels' not in out['data_samples']
    with pytest.raises(ValueError, match='num_classes must be a positive int, got 0'):
        PackWSSSInputs(num_classes=0)


def test_pack_wsss_inputs_takes_the_class_count_from_the_dataset():
    img = np.zeros((2, 2, 3), np.uint8)
    out = PackWSSSInputs()(dict(img=img, img_path='x.jpg', gt_class_labels=[1], num_classes=3))
    assert out['data_samples'].gt_class_labels.tolist() == [0, 1, 0]
    # a pipeline written for another dataset (20 classes) on a 3-class dataset
    with pytest.raises(ValueError, match=r'num_classes=20 in the pipeline.*x\.jpg has 3'):
        PackWSSSInputs(num_classes=20)(dict(img=img, img_path='x.jpg', gt_class_labels=[1],
                                            num_classes=3))
    with pytest.raises(KeyError, match='num_classes is not set'):
        PackWSSSInputs()(dict(img=img, img_path='x.jpg', gt_class_labels=[1]))


def test_load_image_level_labels(tmp_path):
    load = LoadImageLevelLabels(num_classes=3)
    mask = np.array([[0, 3], [255, 1]], np.uint8)
    assert load(dict(gt_seg_map=mask))['gt_class_labels'] == [0, 2]
    # labels already in the data info are kept (normalised to a sorted list)
    assert load(dict(gt_seg_map=mask, gt_class_labels=np.array([1, 0])))['gt_class_labels'] == [
        0, 1]
    overwrite = LoadImageLevelLabels(num_classes=3, overwrite=True)
    assert overwrite(dict(gt_seg_map=mask, gt_class_labels=[1]))['gt_class_labels'] == [0, 2]
    Image.fromarray(np.array([[2, 0]], np.uint8), mode='L').save(tmp_path / 'm.png')
    assert load(dict(seg_map_path=str(tmp_path / 'm.png')))['gt_class_labels'] == [1]
    with pytest.raises(KeyError, match=r'a\.jpg has neither gt_class_labels nor a mask'):
        load(dict(img_path='a.jpg', seg_map_path=None))
    with pytest.raises(ValueError, match=r'm4\.png holds class id\(s\) \[4\]'):
        load(dict(gt_seg_map=np.array([[4]], np.uint8), seg_map_path='m4.png'))


def test_load_checked_image(tmp_path):
    img = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    cv2.imwrite(str(tmp_path / 'ok.png'), img)
    load = LoadCheckedImageFromFile()
    out = load(dict(img_path=str(tmp_path / 'ok.png')))
    np.testing.assert_array_equal(out['img'], img)
    assert out['img_shape'] == (5, 7) and out['ori_shape'] == (5, 7)

    with pytest.raises(FileNotFoundError, match=r'missing\.jpg does not exist'):
        load(dict(img_path=str(tmp_path / 'missing.jpg')))
    (tmp_path / 'empty.jpg').write_bytes(b'')
    with pytest.raises(OSError, match=r'empty\.jpg is empty'):
        load(dict(img_path=str(tmp_path / 'empty.jpg')))
    (tmp_path / 'junk.jpg').write_bytes(b'this is not an image')
    with pytest.raises(OSError, match=r'junk\.jpg cannot be decoded'):
        load(dict(img_path=str(tmp_path / 'junk.jpg')))
    ok, buf = cv2.imencode('.jpg', np.zeros((32, 32, 3), np.uint8))
    (tmp_path / 'cut.jpg').write_bytes(buf.tobytes()[:len(buf) // 2])
    with pytest.raises(OSError, match=r'cut\.jpg is a truncated JPEG'):
        load(dict(img_path=str(tmp_path / 'cut.jpg')))
    assert LoadCheckedImageFromFile(ignore_empty=True)(dict(img_path=str(tmp_path / 'cut.jpg'))) \
        is None
    assert 'check_truncated=True' in repr(load)


def test_pipelines_build_through_mmseg_registry():
    train = Compose(wsss_train_pipeline(num_classes=6, crop_size=8))
    types = [type(t).__module__ + '.' + type(t).__name__ for t in train.transforms]
    assert types[1] == 'mmpretrain.datasets.transforms.processing.RandomResizedCrop'
    assert types[2] == 'mmseg.datasets.transforms.transforms.RandomFlip'
    assert types[3] == 'mmpretrain.datasets.transforms.processing.ColorJitter'
    assert isinstance(TRANSFORMS.build(dict(type='PackWSSSInputs', num_classes=6)), PackWSSSInputs)
    assert [t['type'] for t in wsss_test_pipeline(6)] == [
        'LoadCheckedImageFromFile', 'LoadAnnotations', 'PackWSSSInputs'
    ]


def test_train_and_test_pipeline_outputs(demo_layout):
    common = dict(type='DemoWSSSDataset', data_root=str(demo_layout), ann_file=SPLIT)
    train = DATASETS.build(dict(common, pipeline=wsss_train_pipeline(num_classes=6, crop_size=8)))
    out = train[1]
    assert out['inputs'].shape == (3, 8, 8) and out['inputs'].dtype == torch.uint8
    labels = out['data_samples'].gt_class_labels
    assert labels.dtype == torch.long and labels.tolist() == [0, 0, 0, 0, 0, 1]
    assert 'gt_sem_seg' not in out['data_samples']

    test = DATASETS.build(dict(common, pipeline=wsss_test_pipeline(num_classes=6),
                               test_mode=True))
    out = test[0]
    assert out['inputs'].shape == (3, 10, 14)  # original size, no resize
    sample = out['data_samples']
    assert sample.gt_class_labels.tolist() == [0, 1, 0, 0, 0, 0]
    seg = sample.gt_sem_seg.data
    assert seg.shape == (1, 10, 14) and seg.dtype == torch.int64
    assert int(seg.sum()) == 2 * 3 * 6
    assert sample.ori_shape == (10, 14)


def test_corrupt_image_fails_in_pipeline_naming_file(demo_layout):
    (demo_layout / 'JPEGImages' / 'q.jpg').write_bytes(b'\xff\xd8garbage')
    ds = DATASETS.build(dict(type='DemoWSSSDataset', data_root=str(demo_layout), ann_file=SPLIT,
                             pipeline=wsss_test_pipeline(6), test_mode=True))
    assert ds[0]['inputs'].shape == (3, 10, 14)
    with pytest.raises(OSError, match=r'JPEGImages/q\.jpg is a truncated JPEG'):
        ds[1]


def test_pack_wsss_inputs_names_a_mask_smaller_than_its_image():
    results = dict(img=np.zeros((8, 6, 3), np.uint8), gt_seg_map=np.zeros((4, 6), np.uint8),
                   img_path='img/a.jpg', seg_map_path='masks/a.png', gt_class_labels=[0],
                   seg_fields=['gt_seg_map'])
    with pytest.raises(ValueError, match=r'mask masks/a\.png has size \(4, 6\) .* image '
                                         r'img/a\.jpg \(8, 6\)'):
        PackWSSSInputs(num_classes=2)(results)


def test_load_checked_image_names_a_corrupt_jpeg(tmp_path, monkeypatch):
    """Garbage in the middle of the scan data (markers intact): libjpeg's "Corrupt JPEG data"
    names no file; the loader's warning (or error) does."""
    import mmseg_mctformer.datasets.transforms.loading as loading
    rng = np.random.default_rng(0)
    ok, buf = cv2.imencode('.jpg', rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = bytearray(buf.tobytes())
    middle = (data.find(b'\xff\xda') + len(data)) // 2
    data[middle:middle + 40] = b'\x55' * 40
    path = str(tmp_path / 'garbled.jpg')
    with open(path, 'wb') as f:
        f.write(bytes(data))
    logged = []
    monkeypatch.setattr(loading, 'print_log', lambda msg, **kw: logged.append(msg))
    out = LoadCheckedImageFromFile()(dict(img_path=path))
    assert out['img'].shape == (64, 64, 3)  # decoded (with wrong pixels), and said so
    assert len(logged) == 1 and 'garbled.jpg' in logged[0] and 'Corrupt JPEG data' in logged[0]
    with pytest.raises(OSError, match=r'garbled\.jpg: the JPEG decoder reported "Corrupt JPEG'):
        LoadCheckedImageFromFile(corrupt='error')(dict(img_path=path))
    cv2.imwrite(str(tmp_path / 'fine.jpg'), np.zeros((8, 8, 3), np.uint8))
    logged.clear()
    LoadCheckedImageFromFile()(dict(img_path=str(tmp_path / 'fine.jpg')))
    assert logged == []
    with pytest.raises(ValueError, match="corrupt must be 'warn' or 'error'"):
        LoadCheckedImageFromFile(corrupt='ignore')
