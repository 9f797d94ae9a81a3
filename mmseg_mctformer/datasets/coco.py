"""MS COCO 2014 for weakly supervised semantic segmentation."""
from mmseg.datasets import COCOStuffDataset
from mmseg.registry import DATASETS

from .utils import voc_colormap
from .wsss_base import WSSSBaseDataset

#: The 80 COCO object ("thing") classes, in the order of the COCO-Stuff train ids 0..79.
COCO_CLASSES = tuple(COCOStuffDataset.METAINFO['classes'][:80])


@DATASETS.register_module()
class COCOWSSSDataset(WSSSBaseDataset):
    """MS COCO 2014 with image-level labels (80 foreground classes).

    Layout: ``JPEGImages/*.jpg``, ``SegmentationClass/*.png`` (0 background, 1..80 the COCO
    classes in their usual order, 255 ignore) and split files such as ``ImageSets/train.txt``
    (one image name per line, e.g. ``COCO_train2014_000000000009``). Other folders are set with
    ``data_prefix``; without masks, give ``label_file`` (``{name: (80,) multi-hot}``).

    Args:
        ann_file (str): Split file, e.g. ``'ImageSets/train.txt'``.
        **kwargs: See :class:`WSSSBaseDataset`.
    """

    METAINFO = dict(classes=('background', ) + COCO_CLASSES, palette=voc_colormap(81))
    DEFAULT_DATA_PREFIX = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
