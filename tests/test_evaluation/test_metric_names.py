"""Split-named metric keys: ``{task}/{split}/{name}`` beside the runner's ``{task}/{name}``."""
from mmseg_mctformer.evaluation.metric_names import (
    add_split_keys,
    read_metric,
    split_key,
    split_name,
)


def test_split_key_and_add_split_keys():
    assert split_key('seed/mIoU', 'train') == 'seed/train/mIoU'
    assert split_key('mIoU', 'val', task='seg') == 'seg/val/mIoU'
    assert split_key('mIoU', 'val') == 'val/mIoU'
    named = add_split_keys({'seed/mIoU': 60.0, 'cls/mAP': 90.0, 'seed/absent_classes': []},
                           'train_aug')
    assert named == {'seed/mIoU': 60.0, 'cls/mAP': 90.0, 'seed/absent_classes': [],
                     'seed/train_aug/mIoU': 60.0, 'cls/train_aug/mAP': 90.0}
    assert add_split_keys({'mIoU': 1.0}, None) == {'mIoU': 1.0}
    # old and split-named keys read the same number
    assert read_metric(named, 'seed/mIoU', 'train_aug') == 60.0
    assert read_metric({'seed/mIoU': 5.0}, 'seed/mIoU', 'val') == 5.0
    assert read_metric({}, 'seed/mIoU', 'val') is None


def test_split_name_reads_the_ann_file():
    loader = dict(dataset=dict(type='RepeatDataset', dataset=dict(
        ann_file='ImageSets/Segmentation/train_aug.txt')))
    assert split_name(loader) == 'train_aug'
    concat = dict(dataset=dict(type='ConcatDataset', datasets=[
        dict(ann_file='a/train.txt'), dict(ann_file='b/aug.txt')]))
    assert split_name(concat) == 'train+aug'
    assert split_name(dict(dataset=dict()), default='val') == 'val'
