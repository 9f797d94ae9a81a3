import copy

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.models import SegDataPreProcessor
from mmseg.structures import SegDataSample

from mmseg_mctformer.models import WSSSDataPreProcessor


def _sample(path):
    return SegDataSample(metainfo=dict(img_path=path))


def test_mixed_sizes_in_a_test_batch_name_the_images():
    pre = WSSSDataPreProcessor(mean=[0, 0, 0], std=[1, 1, 1])
    same = dict(inputs=[torch.zeros(3, 8, 6), torch.ones(3, 8, 6)],
                data_samples=[_sample('a.jpg'), _sample('b.jpg')])
    assert pre(same, training=False)['inputs'].shape == (2, 3, 8, 6)
    mixed = dict(inputs=[torch.zeros(3, 8, 6), torch.zeros(3, 10, 6)],
                 data_samples=[_sample('a.jpg'), _sample('b.jpg')])
    with pytest.raises(ValueError, match=r'a\.jpg \(8, 6\), b\.jpg \(10, 6\); use batch_size=1'):
        pre(mixed, training=False)


def _train_data(sizes, seed=0, mask=False):
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i, (h, w) in enumerate(sizes):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen))
        sample = _sample(f'{i}.jpg')
        sample.gt_class_labels = torch.randint(0, 2, (5, ), generator=gen)
        if mask:
            sample.set_data(dict(gt_sem_seg=PixelData(data=torch.zeros(1, h, w).long())))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('sizes,settings', [
    ([(32, 48)] * 4, dict(size_divisor=16)),
    ([(30, 40)] * 3, dict(size_divisor=16)),   # padded to 32 x 48
    ([(30, 40)] * 2, dict(size=(36, 44))),
    ([(30, 40), (32, 40)], dict(size_divisor=16)),  # mixed sizes: MMSeg's path
])
def test_training_batch_equals_mmseg(sizes, settings):
    """One stacked copy and one normalisation for the batch: the same tensors and metainfo as
    MMSeg's image-by-image path; the labels of the samples become rows of one tensor."""
    kwargs = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                  pad_val=0, seg_pad_val=255, **settings)
    ours = WSSSDataPreProcessor(**kwargs)
    theirs = SegDataPreProcessor(**kwargs)
    data = _train_data(sizes)
    want = theirs(copy.deepcopy(data), training=True)
    calls = []
    stack = ours.cast_data
    ours.cast_data = lambda d: calls.append(d) or stack(d)
    got = ours(copy.deepcopy(data), training=True)
    assert torch.equal(got['inputs'], want['inputs'])
    assert got['inputs'].dtype == torch.float32
    for g, w in zip(got['data_samples'], want['data_samples']):
        assert torch.equal(g.gt_class_labels, w.gt_class_labels)
        assert g.metainfo == w.metainfo
    batched = len(set(sizes)) == 1
    # batched: one cast of [images (B, 3, H, W), labels (B, C)]; else MMSeg's cast of the dict
    assert isinstance(calls[0], list) == batched
    if batched:  # the labels are rows of the one copied (B, C) tensor
        storages = {s.gt_class_labels.untyped_storage().data_ptr() for s in got['data_samples']}
        assert len(storages) == 1 and calls[0][1].shape == (len(sizes), 5)


def test_training_batch_with_masks_takes_mmseg_path():
    """Samples with a mask to pad (gt_sem_seg) go through MMSeg's stack_batch unchanged."""
    kwargs = dict(mean=[0, 0, 0], std=[1, 1, 1], size_divisor=16, seg_pad_val=255)
    data = _train_data([(30, 40)] * 2, mask=True)
    got = WSSSDataPreProcessor(**kwargs)(copy.deepcopy(data), training=True)
    want = SegDataPreProcessor(**kwargs)(copy.deepcopy(data), training=True)
    assert torch.equal(got['inputs'], want['inputs'])
    for g, w in zip(got['data_samples'], want['data_samples']):
        assert torch.equal(g.gt_sem_seg.data, w.gt_sem_seg.data)
        assert g.gt_sem_seg.shape == (32, 48)
        assert g.metainfo == w.metainfo
