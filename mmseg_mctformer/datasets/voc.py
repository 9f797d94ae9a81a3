"""PASCAL VOC 2012 + SBD ("train_aug") for weakly supervised semantic segmentation."""
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

from .wsss_base import WSSSBaseDataset


@DATASETS.register_module()
class VOCWSSSDataset(WSSSBaseDataset):
    """PASCAL VOC 2012 with the SBD augmented masks, with image-level labels.

    Layout: ``JPEGImages/*.jpg``, ``SegmentationClassAug/*.png`` (0 background, 1..20, 255
    ignore) and ``ImageSets/Segmentation/{train_aug,train,val}.txt``. Classes and palette are
    mmseg's :class:`PascalVOCDataset` ones (21 incl. background; the model uses the 20 foreground
    classes). Without masks, give ``label_file='cls_labels.npy'`` (``{name: (20,) multi-hot}``).

    Args:
        ann_file (str): Split file, e.g. ``'ImageSets/Segmentation/train_aug.txt'``.
        **kwargs: See :class:`WSSSBaseDataset`.
    """

    METAINFO = PascalVOCDataset.METAINFO
    DEFAULT_DATA_PREFIX = dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')
