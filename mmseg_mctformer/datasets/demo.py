"""The embedded demo dataset (see :mod:`mmseg_mctformer.datasets.demo_generator`)."""
import os.path as osp
from typing import Optional, Sequence

from mmseg.registry import DATASETS

from .demo_generator import DEMO_CLASSES, DEMO_PALETTE, read_meta
from .utils import voc_colormap
from .wsss_base import WSSSBaseDataset


def generated_classes(data_root: Optional[str]) -> Optional[tuple]:
    """The ``classes`` that ``tools/make_demo_data.py`` recorded in ``<data_root>/meta.json``.

    Returns None when there is no such file or entry (a folder laid out by hand).
    """
    try:
        meta = read_meta(data_root, strict=True) if data_root else None
    except ValueError as err:
        raise ValueError(f'DemoWSSSDataset: {err}') from err
    classes = meta.get('classes') if isinstance(meta, dict) else None
    if classes is None:
        return None
    if (not isinstance(classes, list) or len(classes) < 2 or classes[0] != 'background'
            or not all(isinstance(c, str) for c in classes)):
        raise ValueError(f'DemoWSSSDataset: "classes" of {osp.join(data_root, "meta.json")} must '
                         'list "background" and then the foreground class names, got '
                         f'{classes!r}')
    return tuple(classes)


@DATASETS.register_module()
class DemoWSSSDataset(WSSSBaseDataset):
    """Generated scenes with image-level labels, in the VOC layout.

    Written by ``tools/make_demo_data.py``; splits ``ImageSets/Segmentation/{train_aug,train,
    val}.txt``, labels also in ``cls_labels.npy``. The class names are those the generator
    recorded in ``<data_root>/meta.json`` (``--source emoji``: ``fruit``, ``animal``, ...), else
    the Fashion-MNIST ones (``tshirt``, ``trouser``, ``dress``, ``sandal``, ``bag``,
    ``ankle_boot``), after ``background``. Mask ids are kept as written (class ``i`` of the list
    is id ``i``); ``metainfo=dict(classes=...)`` given in the config takes precedence.

    Args:
        ann_file (str): Split file, e.g. ``'ImageSets/Segmentation/train_aug.txt'``.
        **kwargs: See :class:`WSSSBaseDataset`.
    """

    METAINFO = dict(classes=DEMO_CLASSES, palette=DEMO_PALETTE)
    DEFAULT_DATA_PREFIX = dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')

    def __init__(self, metainfo: Optional[dict] = None, **kwargs) -> None:
        # names of the generated folder: a relabelling of the same ids, not a class selection
        self._names_from_data = False
        if not (metainfo and 'classes' in metainfo):
            classes = generated_classes(kwargs.get('data_root'))
            if classes is not None and classes != tuple(DEMO_CLASSES):
                metainfo = dict(metainfo or {}, classes=classes,
                                palette=voc_colormap(len(classes)))
                self._names_from_data = True
        super().__init__(metainfo=metainfo, **kwargs)

    def get_label_map(self, new_classes: Optional[Sequence] = None) -> Optional[dict]:
        """MMSeg's class selection, except for the generated folder's own names (ids as written)."""
        if self._names_from_data:
            return None
        return super().get_label_map(new_classes)
