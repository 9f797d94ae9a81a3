"""OpenImages30k for weakly supervised object localisation (WSOL), in the layout of Choe et al.

"Evaluating Weakly Supervised Object Localization Methods Right" (Choe et al., CVPR 2020,
https://arxiv.org/abs/2001.07437) and its ``wsolevaluation`` metadata: 100 classes, 29,819
train / 2,500 val / 5,000 test images, one class per image, instance masks on val and test.
"""
import hashlib
import os
import os.path as osp
import shutil
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS
from PIL import Image

from ..utils.io import atomic_output, atomic_write_text
from .utils import read_mask, voc_colormap

#: Files of one split's metadata folder (``localization.txt`` only where masks exist).
METADATA_FILES = ('image_ids.txt', 'class_labels.txt', 'localization.txt')


def _metadata_lines(path: str) -> List[List[str]]:
    """Non-empty lines of a metadata file, split on commas (kept empty fields)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'WSOL metadata file {path} does not exist')
    with open(path, encoding='utf-8') as f:
        return [line.rstrip('\r\n').split(',') for line in f if line.strip()]


def load_wsol_metadata(metadata_dir: str) -> dict:
    """Read one split of WSOL metadata (``wsolevaluation`` format).

    ``image_ids.txt`` lists image ids (``val/<class>/<id>.jpg``, relative to the image root);
    ``class_labels.txt`` holds ``image_id,class_index`` lines; ``localization.txt`` (optional)
    holds ``image_id,mask_path,ignore_path`` lines, one per instance mask, with the ignore path
    on the first line of an image only (paths relative to the mask root).

    Args:
        metadata_dir (str): The split's folder, e.g. ``metadata/OpenImages/val``.

    Returns:
        dict: ``image_ids`` (list[str], file order), ``class_labels`` (dict[str, int]) and
        ``localization`` (dict[str, tuple[list[str], str | None]]: mask paths and ignore path;
        empty when the split has no ``localization.txt``).
    """
    ids_file, labels_file, loc_file = (osp.join(metadata_dir, n) for n in METADATA_FILES)
    image_ids = []
    for fields in _metadata_lines(ids_file):
        image_ids.append(fields[0].strip())
    class_labels = {}
    for lineno, fields in enumerate(_metadata_lines(labels_file), 1):
        if len(fields) != 2 or not fields[1].strip().lstrip('-').isdigit():
            raise ValueError(f'{labels_file}:{lineno}: expected "image_id,class_index", got '
                             f'{",".join(fields)!r}')
        class_labels[fields[0].strip()] = int(fields[1])
    localization: Dict[str, Tuple[List[str], Optional[str]]] = OrderedDict()
    if osp.isfile(loc_file):
        for lineno, fields in enumerate(_metadata_lines(loc_file), 1):
            if len(fields) != 3:
                raise ValueError(f'{loc_file}:{lineno}: expected "image_id,mask_path,'
                                 f'ignore_path", got {",".join(fields)!r}')
            image_id, mask_path, ignore_path = (f.strip() for f in fields)
            if image_id not in localization:
                localization[image_id] = ([mask_path], ignore_path or None)
            else:
                localization[image_id][0].append(mask_path)
    return dict(image_ids=image_ids, class_labels=class_labels, localization=localization)


def class_names_from_ids(class_labels: Dict[str, int], source: str = '<metadata>') -> Tuple[str]:
    """Class names (the class folder of the image ids, e.g. OpenImages MIDs) in index order.

    Args:
        class_labels (dict[str, int]): Image id (``split/<class>/<id>.jpg``) -> class index.
        source (str): Name used in error messages. Default: ``'<metadata>'``.

    Returns:
        tuple[str]: ``C`` names; index ``c`` is the folder of the images labelled ``c``.
    """
    names: Dict[int, str] = {}
    for image_id, label in class_labels.items():
        parts = image_id.replace('\\', '/').split('/')
        if len(parts) < 2:
            raise ValueError(f'{source}: image id {image_id!r} has no class folder '
                             '(expected split/<class>/<id>.jpg)')
        folder = parts[-2]
        if names.setdefault(label, folder) != folder:
            raise ValueError(f'{source}: class index {label} is used for the folders '
                             f'{names[label]!r} and {folder!r}; pass metainfo classes instead')
    if not names:
        raise ValueError(f'{source}: no class labels')
    if sorted(names) != list(range(len(names))):
        raise ValueError(f'{source}: class indices must be 0..C-1 without gaps, got '
                         f'{sorted(names)[:10]}... ({len(names)} classes)')
    return tuple(names[i] for i in range(len(names)))


@DATASETS.register_module()
class OpenImagesWSOLDataset(BaseSegDataset):
    """OpenImages30k (or any dataset in the ``wsolevaluation`` layout) for WSOL.

    Layout (``data_root`` relative; the metadata is that of Choe et al.)::

        data_root/
        ├── OpenImages/{train,val,test}/<class>/<id>.jpg          (data_prefix img_path)
        ├── OpenImages/{val,test}/<class>/<id>_m<class>_<hash>.png  instance masks
        ├── OpenImages/{val,test}/<class>/<id>_ignore.png         (data_prefix seg_map_path)
        └── metadata/OpenImages/<split>/{image_ids,class_labels,localization}.txt

    Each image has exactly one class (``class_labels.txt``), stored as ``gt_class_labels =
    [c]`` so that ``PackWSSSInputs`` gives the multi-hot ``(C,)`` vector our model trains on
    (single-label classification with a multi-label loss, as the paper). With masks (the
    split has a ``localization.txt``), each data info also holds ``mask_paths`` (the image's
    instance masks, OR-ed by :class:`LoadWSOLAnnotations`) and ``ignore_path`` (or None).

    Classes: ``background`` then the ``C`` class folders (OpenImages MIDs) in index order, read
    from the metadata (pass ``metainfo=dict(classes=(...))`` with background first to name them
    otherwise); OpenImages30k gives ``C = 100``.

    Args:
        split (str): Metadata split, ``'train'``, ``'val'`` (the protocol's model-selection set)
            or ``'test'``. Default: ``'val'``.
        metadata_root (str): Folder holding one metadata folder per split (relative to
            ``data_root`` unless absolute). Default: ``'metadata/OpenImages'``.
        data_prefix (dict): ``img_path`` (image root of the image ids) and ``seg_map_path``
            (root of the mask paths). Default: both ``'OpenImages'``.
        with_masks (bool, optional): Read ``localization.txt``; None means "when it exists".
            Default: None.
        check_files (bool): Check at load time that every image (and mask) exists.
            Default: True.
        **kwargs: Other arguments of :class:`mmseg.datasets.BaseSegDataset` (``data_root``,
            ``pipeline``, ``test_mode``, ``metainfo``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self,
                 split: str = 'val',
                 metadata_root: str = 'metadata/OpenImages',
                 data_prefix: Optional[dict] = None,
                 with_masks: Optional[bool] = None,
                 check_files: bool = True,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if kwargs.get('reduce_zero_label', False):
            raise ValueError('OpenImagesWSOLDataset: reduce_zero_label must be False, got True')
        data_root = kwargs.get('data_root')
        if not osp.isabs(metadata_root) and data_root:
            metadata_root = osp.join(data_root, metadata_root)
        self.split = split
        self.metadata_dir = osp.join(metadata_root, split)
        if not osp.isdir(self.metadata_dir):
            raise FileNotFoundError(f'OpenImagesWSOLDataset: metadata folder '
                                    f'{self.metadata_dir} (metadata_root/split) does not exist')
        self.metadata = load_wsol_metadata(self.metadata_dir)
        has_loc = bool(self.metadata['localization'])
        if with_masks and not has_loc:
            raise FileNotFoundError(f'OpenImagesWSOLDataset: with_masks=True but '
                                    f'{self.metadata_dir}/localization.txt is missing or empty')
        self.with_masks = has_loc if with_masks is None else bool(with_masks)
        self.check_files = check_files
        metainfo = dict(metainfo or {})
        if 'classes' not in metainfo:
            names = class_names_from_ids(self.metadata['class_labels'],
                                         osp.join(self.metadata_dir, 'class_labels.txt'))
            metainfo['classes'] = ('background', ) + names
        metainfo.setdefault('palette', voc_colormap(len(metainfo['classes'])))
        if data_prefix is None:
            data_prefix = dict(img_path='OpenImages', seg_map_path='OpenImages')
        super().__init__(data_prefix=data_prefix, metainfo=metainfo, **kwargs)

    @property
    def num_classes(self) -> int:
        """int: Number of foreground classes ``C``."""
        return len(self._metainfo['classes']) - 1

    def load_data_list(self) -> List[dict]:
        """One data info per image id of ``image_ids.txt`` (see the class docstring).

        Returns:
            list[dict]: Data infos with ``img_path``, ``image_id``, ``gt_class_labels`` (one
            class), ``num_classes``, ``seg_map_path=None``, ``mask_paths``, ``ignore_path``,
            ``reduce_zero_label=False`` and ``seg_fields=[]``.
        """
        meta = self.metadata
        img_root = self.data_prefix.get('img_path', '')
        mask_root = self.data_prefix.get('seg_map_path', img_root)
        source = self.metadata_dir
        missing_labels = [i for i in meta['image_ids'] if i not in meta['class_labels']]
        if missing_labels:
            raise KeyError(f'{source}/class_labels.txt has no entry for {len(missing_labels)} '
                           f'image id(s) of image_ids.txt, first: {missing_labels[:5]}')
        if self.with_masks:
            missing_masks = [i for i in meta['image_ids'] if i not in meta['localization']]
            if missing_masks:
                raise KeyError(f'{source}/localization.txt has no entry for '
                               f'{len(missing_masks)} image id(s), first: {missing_masks[:5]}')
        data_list = []
        for image_id in meta['image_ids']:
            label = meta['class_labels'][image_id]
            if not 0 <= label < self.num_classes:
                raise ValueError(f'{source}/class_labels.txt: {image_id} has class {label}, '
                                 f'expected 0..{self.num_classes - 1}')
            info = dict(
                img_path=osp.join(img_root, image_id),
                image_id=image_id,
                seg_map_path=None,
                gt_class_labels=[label],
                num_classes=self.num_classes,
                mask_paths=[],
                ignore_path=None,
                label_map=self.label_map,
                reduce_zero_label=False,
                seg_fields=[])
            if self.with_masks:
                masks, ignore = meta['localization'][image_id]
                info['mask_paths'] = [osp.join(mask_root, m) for m in masks]
                info['ignore_path'] = osp.join(mask_root, ignore) if ignore else None
            data_list.append(info)
        if self.check_files:
            self._check_files(data_list)
        return data_list

    def _check_files(self, data_list: List[dict]) -> None:
        """Raise if a listed image, mask or ignore map is missing, naming the first ones."""
        missing = []
        for info in data_list:
            paths = [info['img_path'], *info['mask_paths']]
            if info['ignore_path']:
                paths.append(info['ignore_path'])
            missing.extend(p for p in paths if not osp.isfile(p))
        if missing:
            raise FileNotFoundError(f'OpenImagesWSOLDataset: {len(missing)} file(s) listed in '
                                    f'{self.metadata_dir} do not exist, first: {missing[:5]}')


def _stable_hash(text: str) -> str:
    return hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]


def convert_seg_to_wsol(img_paths: Sequence[str],
                        seg_paths: Sequence[str],
                        class_names: Sequence[str],
                        out_root: str,
                        split: str = 'val',
                        ignore_index: int = 255,
                        image_dir: str = 'OpenImages',
                        metadata_root: str = 'metadata/OpenImages') -> int:
    """Write a segmentation split in the WSOL layout, one entry per (image, class) pair.

    A multi-label image with classes ``{a, b}`` becomes two single-label images,
    ``<split>/<a>/<stem>.jpg`` and ``<split>/<b>/<stem>.jpg`` (copies), each with the mask of its
    class (``<stem>_m<class>_<hash>.png``, 255 = object) and the image's ignore pixels
    (``<stem>_ignore.png``, 255 where the mask holds ``ignore_index``). Pixels of the other
    classes are background of the entry. Metadata files are written last, atomically.

    Args:
        img_paths (Sequence[str]): Image files (JPEG).
        seg_paths (Sequence[str]): Masks (0 background, ``1..C``, ``ignore_index``), same order.
        class_names (Sequence[str]): The ``C`` foreground class names (used as folder names).
        out_root (str): Output ``data_root``.
        split (str): Split name of the output. Default: ``'val'``.
        ignore_index (int): Ignore value of the masks. Default: 255.
        image_dir (str): Image and mask root under ``out_root``. Default: ``'OpenImages'``.
        metadata_root (str): Metadata root under ``out_root``. Default:
            ``'metadata/OpenImages'``.

    Returns:
        int: Number of (image, class) entries written.
    """
    if len(img_paths) != len(seg_paths):
        raise ValueError(f'convert_seg_to_wsol: {len(img_paths)} images but {len(seg_paths)} '
                         'masks')
    bad = [n for n in class_names if not n or '/' in n or ',' in n]
    if bad:
        raise ValueError(f'convert_seg_to_wsol: class names {bad} cannot be folder names')
    ids, labels, loc = [], [], []
    for img_path, seg_path in zip(img_paths, seg_paths):
        seg = read_mask(seg_path)
        stem = osp.splitext(osp.basename(img_path))[0]
        ignore = seg == ignore_index
        for value in np.unique(seg):
            c = int(value) - 1
            if value == ignore_index or c < 0:
                continue
            if c >= len(class_names):
                raise ValueError(f'convert_seg_to_wsol: {seg_path} holds class id {int(value)}, '
                                 f'expected 1..{len(class_names)} or {ignore_index}')
            rel_dir = f'{split}/{class_names[c]}'
            out_dir = osp.join(out_root, image_dir, rel_dir)
            os.makedirs(out_dir, exist_ok=True)
            image_id = f'{rel_dir}/{stem}.jpg'
            mask_rel = f'{rel_dir}/{stem}_m{class_names[c]}_{_stable_hash(image_id)}.png'
            ignore_rel = f'{rel_dir}/{stem}_ignore.png'
            with atomic_output(osp.join(out_root, image_dir, image_id)) as tmp:
                shutil.copyfile(img_path, tmp)
            for rel, binary in ((mask_rel, seg == value), (ignore_rel, ignore)):
                with atomic_output(osp.join(out_root, image_dir, rel), suffix='.png') as tmp:
                    Image.fromarray(binary.astype(np.uint8) * 255).save(tmp, format='PNG')
            ids.append(image_id)
            labels.append(f'{image_id},{c}')
            loc.append(f'{image_id},{mask_rel},{ignore_rel}')
    meta_dir = osp.join(out_root, metadata_root, split)
    for name, lines in zip(METADATA_FILES, (ids, labels, loc)):
        atomic_write_text(osp.join(meta_dir, name), ''.join(line + '\n' for line in lines))
    return len(ids)
