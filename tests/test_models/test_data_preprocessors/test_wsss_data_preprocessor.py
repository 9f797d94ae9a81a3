import pytest
import torch
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
