"""Base dataset for weakly supervised semantic segmentation: image-level labels, optional masks."""
import os.path as osp
import sys
import time
import warnings
from typing import Dict, List, Optional

import mmengine
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .utils import labels_from_mask, load_label_file, read_mask, save_label_file


@DATASETS.register_module()
class WSSSBaseDataset(BaseSegDataset):
    """A segmentation dataset whose samples also carry image-level labels.

    Layout (VOC style; prefixes are configurable)::

        data_root/
        ├── JPEGImages/xxx{img_suffix}
        ├── SegmentationClassAug/xxx{seg_map_suffix}   (optional with ``label_file``)
        └── ImageSets/Segmentation/train_aug.txt       (``ann_file``: one name per line)

    ``METAINFO['classes']`` lists background first, then the ``C`` foreground classes; masks hold
    ``0`` (background), ``1..C`` and ``ignore_index``. Each data_info holds ``img_path``,
    ``seg_map_path`` (``None`` without masks), ``gt_class_labels`` (sorted foreground indices
    ``0..C-1``; mask value ``v`` -> label ``v - 1``), ``reduce_zero_label=False`` and
    ``seg_fields=[]``.

    Labels come from ``label_file`` (the common ``cls_labels.npy``: ``{name: (C,) multi-hot}``)
    when given, else from the masks, read once at load time (optionally cached in
    ``label_cache``). Load flow: ``load_data_list() -> _check_files() -> _attach_labels()``, then
    ``filter_data()`` drops images without a foreground label (with a warning counting them).

    Args:
        ann_file (str): Split file, one image name (no suffix) per line. Default: ``''``, which
            lists every image of the image folder.
        img_suffix (str): Suffix of images. Default: ``'.jpg'``.
        seg_map_suffix (str): Suffix of masks. Default: ``'.png'``.
        data_prefix (dict, optional): ``img_path`` and ``seg_map_path`` folders (relative to
            ``data_root``); an empty or missing ``seg_map_path`` means no masks. Default: ``None``,
            which means the class's ``DEFAULT_DATA_PREFIX``.
        label_file (str, optional): ``cls_labels.npy`` path (relative to ``data_root`` if not
            absolute). When given, the masks are not needed. Default: ``None``.
        label_cache (str, optional): ``.npy`` file (``label_file`` format) where labels derived
            from the masks are stored and re-read by later runs; delete it when the masks change.
            Default: ``None`` (no cache).
        skip_empty (bool): Drop images without any foreground label. Default: ``True``.
        check_files (bool): Check at load time that every listed image (and mask) exists.
            Default: ``True``.
        **kwargs: Other arguments of :class:`mmseg.datasets.BaseSegDataset`
            (``data_root``, ``data_prefix``, ``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict()
    #: ``data_prefix`` used when none is given (subclasses set their layout here).
    DEFAULT_DATA_PREFIX: dict = dict(img_path='', seg_map_path='')

    def __init__(self,
                 ann_file: str = '',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 data_prefix: Optional[dict] = None,
                 label_file: Optional[str] = None,
                 label_cache: Optional[str] = None,
                 skip_empty: bool = True,
                 check_files: bool = True,
                 **kwargs) -> None:
        if kwargs.get('reduce_zero_label', False):
            raise ValueError(f'{type(self).__name__}: reduce_zero_label must be False (masks hold '
                             '0 = background), got True')
        data_prefix = dict(self.DEFAULT_DATA_PREFIX if data_prefix is None else data_prefix)
        # An empty/None mask prefix means "no masks" (not "masks in data_root").
        self._use_masks = bool(data_prefix.get('seg_map_path'))
        if not self._use_masks:
            data_prefix.pop('seg_map_path', None)
        data_root = kwargs.get('data_root')
        self.label_file = self._rooted(label_file, data_root)
        self.label_cache = self._rooted(label_cache, data_root)
        self.skip_empty = skip_empty
        self.check_files = check_files
        super().__init__(
            ann_file=ann_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)

    @staticmethod
    def _rooted(path: Optional[str], data_root: Optional[str]) -> Optional[str]:
        if path is None or osp.isabs(path) or not data_root:
            return path
        return osp.join(data_root, path)

    @property
    def num_classes(self) -> int:
        """int: Number of foreground classes ``C`` (the classes minus background)."""
        return len(self._metainfo['classes']) - 1

    @property
    def has_masks(self) -> bool:
        """bool: Whether the mask folder exists."""
        seg_dir = self.data_prefix.get('seg_map_path')
        return self._use_masks and osp.isdir(seg_dir)

    def load_data_list(self) -> List[dict]:
        """Load the data list, check the files and attach ``gt_class_labels``.

        Returns:
            list[dict]: Data infos (see the class docstring).
        """
        if self.label_map is not None:
            raise ValueError(
                f'{type(self).__name__}: metainfo classes {self._metainfo["classes"]} differ from '
                f'{self.METAINFO.get("classes")}; class subsets are not supported for WSSS')
        classes = self._metainfo.get('classes')
        if not classes or len(classes) < 2:
            raise ValueError(f'{type(self).__name__}: metainfo classes must be background followed '
                             f'by the foreground classes, got {classes}')
        img_dir = self.data_prefix.get('img_path', '')
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'{type(self).__name__}: image folder {img_dir} (data_prefix '
                                    'img_path) does not exist')
        if self.ann_file and not osp.isdir(self.ann_file) and not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{type(self).__name__}: split file (ann_file) '
                                    f'{self.ann_file} does not exist')
        if not self.has_masks and self.label_file is None:
            raise FileNotFoundError(
                f'{type(self).__name__}: mask folder {self.data_prefix.get("seg_map_path")} '
                '(data_prefix seg_map_path) does not exist and no label_file is given; provide '
                'one of them to get image-level labels')

        data_list = self._drop_blank_lines(super().load_data_list())
        if not data_list:
            raise ValueError(f'{type(self).__name__}: the split {self._source()} lists no images')
        has_masks = self.has_masks
        for info in data_list:
            if not has_masks:
                info['seg_map_path'] = None
            info['reduce_zero_label'] = False
        if self.check_files:
            self._check_files(data_list)
        self._attach_labels(data_list)
        return data_list

    def _drop_blank_lines(self, data_list: List[dict]) -> List[dict]:
        """Drop the entries of blank (or whitespace-only) lines of the split file."""
        img_dir = self.data_prefix.get('img_path', '')
        return [d for d in data_list
                if self._name(d, img_dir, self.img_suffix).strip() not in ('', '.')]

    def _source(self) -> str:
        return self.ann_file or self.data_prefix.get('img_path', '')

    def _check_files(self, data_list: List[dict]) -> None:
        """Raise if any listed image or mask is missing, naming the split file and the files."""
        for key, what in (('img_path', 'image'), ('seg_map_path', 'mask')):
            missing = [d[key] for d in data_list if d.get(key) and not osp.isfile(d[key])]
            if missing:
                raise FileNotFoundError(
                    f'{type(self).__name__}: {len(missing)} {what}(s) listed in {self._source()} '
                    f'do not exist, first: {missing[:5]}')

    @staticmethod
    def _name(info: dict, img_dir: str, suffix: str) -> str:
        rel = osp.relpath(info['img_path'], img_dir)
        return rel[:-len(suffix)] if suffix and rel.endswith(suffix) else rel

    def _attach_labels(self, data_list: List[dict]) -> None:
        """Set ``gt_class_labels`` of every data info from the label file or the masks."""
        img_dir = self.data_prefix.get('img_path', '')
        names = [self._name(d, img_dir, self.img_suffix) for d in data_list]
        if self.label_file is not None:
            table = load_label_file(self.label_file, self.num_classes)
            missing = [n for n in names if n not in table]
            if missing:
                raise KeyError(f'label_file {self.label_file} has no entry for {len(missing)} '
                               f'image(s) of {self._source()}, first: {missing[:5]}')
        else:
            table = self._labels_from_masks(data_list, names)
        for name, info in zip(names, data_list):
            info['gt_class_labels'] = list(table[name])
            # lets PackWSSSInputs size the multi-hot vector (and check a configured size)
            info['num_classes'] = self.num_classes

    def _labels_from_masks(self, data_list: List[dict], names: List[str]) -> Dict[str, list]:
        cache = {}
        if self.label_cache is not None and osp.isfile(self.label_cache):
            cache = load_label_file(self.label_cache, self.num_classes)
        todo = [(n, d['seg_map_path']) for n, d in zip(names, data_list) if n not in cache]
        if not todo:
            return cache
        verbose = len(todo) >= 1000
        bar = ProgressBar(len(todo)) if verbose and sys.stdout.isatty() else None
        if verbose:
            print_log(f'Deriving image-level labels from {len(todo)} masks', logger='current')
        start = time.perf_counter()
        for name, path in todo:
            mask = read_mask(path)
            cache[name] = labels_from_mask(mask, self.num_classes, self.ignore_index, path)
            if bar is not None:
                bar.update()
        if verbose:
            print_log(f'Derived labels of {len(todo)} masks in {time.perf_counter() - start:.1f} s',
                      logger='current')
        if self.label_cache is not None:
            mmengine.mkdir_or_exist(osp.dirname(osp.abspath(self.label_cache)))
            save_label_file(self.label_cache, cache, self.num_classes)
        return cache

    def filter_data(self) -> List[dict]:
        """Drop images without a foreground label when ``skip_empty`` (warns with the count)."""
        if not self.skip_empty:
            return self.data_list
        kept = [d for d in self.data_list if d['gt_class_labels']]
        skipped = len(self.data_list) - len(kept)
        if not kept:
            raise ValueError(f'{type(self).__name__}: none of the {skipped} images of '
                             f'{self._source()} has a foreground label (skip_empty=True drops '
                             'them all)')
        if skipped:
            msg = (f'{type(self).__name__}: skipped {skipped} of {len(self.data_list)} images of '
                   f'{self._source()} without any foreground label')
            warnings.warn(msg)
            print_log(msg, logger='current', level=30)
        return kept
