"""The embedded demo dataset (see :mod:`mmseg_mctformer.datasets.demo_generator`)."""
from mmseg.registry import DATASETS

from .demo_generator import DEMO_CLASSES, DEMO_PALETTE
from .wsss_base import WSSSBaseDataset


@DATASETS.register_module()
class DemoWSSSDataset(WSSSBaseDataset):
    """Fashion-MNIST scenes with image-level labels, in the VOC layout.

    Six foreground classes (``tshirt``, ``trouser``, ``dress``, ``sandal``, ``bag``,
    ``ankle_boot``) after ``background``. Written by ``tools/make_demo_data.py``; splits
    ``ImageSets/Segmentation/{train_aug,train,val}.txt``, labels also in ``cls_labels.npy``.

    Args:
        ann_file (str): Split file, e.g. ``'ImageSets/Segmentation/train_aug.txt'``.
        **kwargs: See :class:`WSSSBaseDataset`.
    """

    METAINFO = dict(classes=DEMO_CLASSES, palette=DEMO_PALETTE)
    DEFAULT_DATA_PREFIX = dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')
