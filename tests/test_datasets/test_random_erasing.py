"""TimmRandomErasing: timm 0.4.12's pixel-mode random erasing, before normalisation."""
import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample

from mmseg_mctformer.datasets import TimmRandomErasing
from mmseg_mctformer.models import WSSSDataPreProcessor

MEAN_BGR = (103.53, 116.28, 123.675)
STD_BGR = (57.375, 57.12, 58.395)


def erased_box(before, after):
    """(rows, cols) spanned by the changed pixels."""
    changed = np.any(before != after, axis=2)
    rows, cols = np.nonzero(changed)
    return rows, cols


def test_fill_is_unclipped_standard_normal_after_the_data_preprocessor():
    """One erased box, normalised by the data preprocessor of the configs: the fill is N(0, 1)
    per pixel and channel, values beyond mmpretrain's clip range [-2.1, 2.6] included."""
    np.random.seed(0)
    erasing = TimmRandomErasing(erase_prob=1.0, min_area=0.3, max_area=0.3)
    img = np.full((200, 200, 3), 7, np.uint8)  # BGR, as LoadImageFromFile gives it
    out = erasing.transform(dict(img=img.copy()))['img']
    assert out.dtype == np.float32
    rows, cols = erased_box(img.astype(np.float32), out)
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert len(rows) == h * w  # one full rectangle, never clamped
    assert h < 200 and w < 200 and 0.29 < h * w / 200 ** 2 < 0.31
    pre = WSSSDataPreProcessor(mean=MEAN_BGR[::-1], std=STD_BGR[::-1], bgr_to_rgb=True,
                               size_divisor=8)
    sample = SegDataSample()
    sample.gt_class_labels = torch.tensor([1, 0])
    x = pre(dict(inputs=[torch.from_numpy(out).permute(2, 0, 1)], data_samples=[sample]),
            training=True)['inputs'][0]
    fill = x[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert abs(fill.mean().item()) < 0.02 and abs(fill.std().item() - 1) < 0.02
    assert fill.min() < -2.1 - 0.5 and fill.max() > 2.6 + 0.5


def test_a_box_that_does_not_fit_is_retried_then_skipped():
    """On a 5 x 300 image most drawn boxes are 5 or more rows high: timm retries 10 times and
    otherwise erases nothing (mmpretrain would clamp the box to the image)."""
    erasing = TimmRandomErasing(erase_prob=1.0)
    img = np.zeros((5, 300, 3), np.uint8)
    skipped = 0
    for seed in range(40):
        np.random.seed(seed)
        out = erasing.transform(dict(img=img.copy()))['img']
        rows, cols = erased_box(img.astype(np.float32), out)
        if not len(rows):
            skipped += 1
            continue
        assert rows.max() - rows.min() + 1 < 5  # only boxes that fit
    assert skipped == 33  # of 40 seeds: 7 boxes fitted within 10 attempts


def test_no_erasing_keeps_the_pixels_as_float32():
    img = np.random.randint(0, 256, (8, 9, 3), np.uint8)
    out = TimmRandomErasing(erase_prob=0.0).transform(dict(img=img.copy()))['img']
    assert out.dtype == np.float32 and np.array_equal(out, img.astype(np.float32))


def test_bad_arguments_and_images_raise():
    with pytest.raises(ValueError, match='erase_prob=1.5'):
        TimmRandomErasing(erase_prob=1.5)
    with pytest.raises(ValueError, match='min_area=0.5, max_area=0.2'):
        TimmRandomErasing(min_area=0.5, max_area=0.2)
    with pytest.raises(ValueError, match='min_aspect=2'):
        TimmRandomErasing(min_aspect=2)
    with pytest.raises(ValueError, match=r'a.png has shape \(4, 4\), expected \(H, W, 3\)'):
        TimmRandomErasing().transform(dict(img=np.zeros((4, 4), np.uint8), img_path='a.png'))
