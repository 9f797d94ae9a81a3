"""The embedded demo dataset (see :mod:`mmseg_mctformer.datasets.demo_generator`)."""
import os.path as osp
from typing import Optional, Sequence

from mmseg.registry import DATASETS

from .demo_generator import DEMO_CLASSES, DEMO_PALETTE, read_meta
from .utils import voc_colormap
from .wsss_base import WSSSBaseDataset

#: What ``meta.json`` must hold, for the error messages (docs/en/user_guides/own_dataset.md).
META_FORMAT = '{"classes": ["background", "<class 1>", ..., "<class C>"]}'


def generated_classes(data_root: Optional[str]) -> tuple:
    """The ``classes`` recorded in ``<data_root>/meta.json`` (by ``tools/make_demo_data.py`` or
    by hand: ``{"classes": ["background", ...]}``).

    Raises:
        FileNotFoundError: If there is no ``data_root`` or no ``meta.json`` in it.
        ValueError: If the file cannot be read or its ``classes`` are malformed.
    """
    if not data_root:
        raise FileNotFoundError(
            'DemoWSSSDataset: no data_root, so no meta.json to read the class names from; set '
            f'data_root to the dataset folder (with a meta.json {META_FORMAT}) or give '
            'metainfo=dict(classes=(...)) in the config')
    path = osp.join(data_root, 'meta.json')
    try:
        meta = read_meta(data_root, strict=True)
    except ValueError as err:
        raise ValueError(f'DemoWSSSDataset: {err}') from err
    if meta is None:
        raise FileNotFoundError(
            f'DemoWSSSDataset: {path} is missing; it names the classes of the dataset, e.g. '
            f'{META_FORMAT} (tools/make_demo_data.py writes it; see '
            'docs/en/user_guides/own_dataset.md), or give metainfo=dict(classes=(...)) in the '
            'config')
    classes = meta.get('classes') if isinstance(meta, dict) else None
    if classes is None:
        raise ValueError(f'DemoWSSSDataset: {path} has no "classes" entry; expected '
                         f'{META_FORMAT}')
    if (not isinstance(classes, list) or len(classes) < 2 or classes[0] != 'background'
            or not all(isinstance(c, str) for c in classes)):
        raise ValueError(f'DemoWSSSDataset: "classes" of {osp.join(data_root, "meta.json")} must '
                         'list "background" and then the foreground class names, got '
                         f'{classes!r}')
    return tuple(classes)


@DATASETS.register_module()
class DemoWSSSDataset(WSSSBaseDataset):
    """Generated scenes with image-level labels, in the VOC layout.

    Written by ``tools/make_demo_data.py`` (or laid out by hand: docs/en/user_guides/
    own_dataset.md); splits ``ImageSets/Segmentation/{train,val}.txt``, labels also in
    ``cls_labels.npy``. The class names are those of ``<data_root>/meta.json`` (``background``
    first; ``--source emoji``: ``fruit``, ``animal``, ...); a folder without it is an error naming
    the file, unless ``metainfo=dict(classes=...)`` is given in the config, which takes
    precedence. Mask ids are kept as written (class ``i`` of the list is id ``i``).
    :attr:`METAINFO` holds the Fashion-MNIST demo's names (``tshirt``, ``trouser``, ``dress``,
    ``sandal``, ``bag``, ``ankle_boot``), which its ``meta.json`` records as well.

    Args:
        ann_file (str): Split file, e.g. ``'ImageSets/Segmentation/train.txt'``.
        **kwargs: See :class:`WSSSBaseDataset`.
    """

    METAINFO = dict(classes=DEMO_CLASSES, palette=DEMO_PALETTE)
    DEFAULT_DATA_PREFIX = dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')

    def __init__(self, metainfo: Optional[dict] = None, **kwargs) -> None:
        # names of the generated folder: a relabelling of the same ids, not a class selection
        self._names_from_data = False
        if not (metainfo and 'classes' in metainfo):
            classes = generated_classes(kwargs.get('data_root'))
            if classes != tuple(DEMO_CLASSES):
                metainfo = dict(metainfo or {}, classes=classes,
                                palette=voc_colormap(len(classes)))
                self._names_from_data = True
        super().__init__(metainfo=metainfo, **kwargs)

    def get_label_map(self, new_classes: Optional[Sequence] = None) -> Optional[dict]:
        """MMSeg's class selection, except for the generated folder's own names (ids as written)."""
        if self._names_from_data:
            return None
        return super().get_label_map(new_classes)
