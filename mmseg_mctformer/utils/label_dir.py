"""A folder of label PNGs named after images: the pseudo labels of stage 1 and the random-walk
masks of the affinity stage.

:class:`LabelDir` owns what the writers (:class:`~mmseg_mctformer.evaluation.PseudoLabelMetric`,
:class:`~mmseg_mctformer.evaluation.PseudoMaskMetric`), the loop that drives them
(:class:`~mmseg_mctformer.engine.runner.PseudoLabelLoop`) and the pipeline need of such a folder:
the record of the settings that produced it (a rerun with other settings is refused), the list of
images whose PNG is still missing (resume), the validity test of a PNG, the palette, the atomic
PNG and ``.npz`` writers, the all-background masks of images without a foreground label and the
clean-up of the temporary files a killed writer left behind. :data:`FOLDER_KINDS` names the two
kinds of folder.
"""
import json
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.fileio import dump
from mmengine.logging import print_log
from mmseg.utils import get_palette
from PIL import Image

from ..datasets.utils import voc_colormap
from ..models.heads.localization_test_cfg import VALUE_ALIASES
from .io import atomic_output

#: Suffix of the temporary files of :func:`mmseg_mctformer.utils.io.atomic_output`.
TMP_SUFFIX = '.tmp'


def default_palette(num_classes: int) -> List[List[int]]:
    """MMSeg's PASCAL VOC palette (``get_palette('voc')``) for ``num_classes`` labels.

    Beyond its 21 colours the same bit-interleaved colour map continues
    (:func:`mmseg_mctformer.datasets.utils.voc_colormap`).
    """
    if num_classes <= 21:
        return [list(c) for c in get_palette('voc')[:num_classes]]
    return voc_colormap(num_classes)


def dataset_palette(metainfo: Optional[dict], owner: str = 'LabelDir') -> list:
    """The ``palette`` of a dataset's metainfo, else :func:`default_palette` of its classes."""
    meta = metainfo or {}
    if meta.get('palette'):
        return meta['palette']
    if not meta.get('classes'):
        raise ValueError(f'{owner}: dataset_meta has neither palette nor classes')
    return default_palette(len(meta['classes']))


class naming_errors:
    """Re-raise an ``OSError`` of the body as one that names the file being written."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, OSError) or self.path in str(exc):
            return False
        msg = f'cannot write {self.path}: {exc.strerror or exc}'
        raise (OSError(exc.errno, msg) if exc.errno is not None else OSError(msg)) from exc


def save_label_png(path: str, label: np.ndarray, palette: Sequence[Sequence[int]]) -> None:
    """Save a label mask as an indexed (palette) PNG, atomically.

    An error while writing (e.g. ``ENOSPC``, disk full) leaves neither the PNG nor a temporary
    file, and is raised again as an ``OSError`` that names ``path``.

    Args:
        path (str): Destination ``.png`` file.
        label (np.ndarray): Labels of shape (H, W), values 0..255.
        palette (Sequence[Sequence[int]]): RGB colour of each label value (at most 256).
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'save_label_png({path}): label must have shape (H, W), got {label.shape}')
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError(f'save_label_png({path}): label values must lie in 0..255, got '
                         f'{label.min()}..{label.max()}')
    image = Image.fromarray(label.astype(np.uint8))  # 'L', becomes 'P' with the palette
    flat = [int(v) for color in list(palette)[:256] for v in color]
    image.putpalette(flat + [0] * (768 - len(flat)))
    with naming_errors(path), atomic_output(path, suffix='.png') as tmp:
        image.save(tmp, format='PNG')


def is_valid_label_png(path: str, size: Tuple[int, int]) -> bool:
    """Whether ``path`` is a complete, readable PNG of ``size`` = (width, height)."""
    if not osp.isfile(path):
        return False
    try:
        with Image.open(path) as im:
            if im.format != 'PNG' or im.size != tuple(size):
                return False
            im.load()
    except Exception:
        return False
    return True


def image_size(img_path: str) -> Tuple[int, int]:
    """(width, height) of an image, read from its header."""
    with Image.open(img_path) as im:
        return im.size


def _jsonable(value):
    return json.loads(json.dumps(value))


#: The kinds of label folder: the record file, the record keys whose change changes the masks
#: (the others are informative), the name used in messages and how a user of the tool regenerates
#: the folder.
FOLDER_KINDS = {
    'pseudo_label': dict(
        record_file='pseudo_label_info.json',
        record_keys=('checkpoint', 'bg_threshold', 'test_cfg', 'crf', 'precision'),
        kind='pseudo-label',
        overwrite_hint='overwrite=True (tools/make_pseudo_labels.py --overwrite)'),
    # the checkpoint by content, not by path
    'affinity_mask': dict(
        record_file='affinity_mask_info.json',
        record_keys=('checkpoint_sha256', 'maps', 'bg_threshold', 'test_cfg', 'precision'),
        kind='random-walk mask',
        overwrite_hint='overwrite=True (tools/make_affinity_masks.py --overwrite)'),
}


class LabelDir:
    """A folder of ``{image basename}.png`` label masks with a record of what produced it.

    - Record: :meth:`check` writes ``record`` (JSON) to ``{path}/{record_file}`` before any mask.
      A later run into the same folder resumes it when the keys ``record_keys`` agree; otherwise
      it is refused with a ``ValueError`` that lists the differences, unless ``overwrite``: then
      the masks are deleted and the folder is regenerated. A folder with masks but no record is
      treated as different.
    - Resume: :meth:`pending` lists the images whose PNG is missing, does not decode or has
      another size than the image (or whose ``.npz`` maps are unreadable, with ``save_logits``).
    - Clean-up: :meth:`remove_stale_tmp` removes the temporary files of a killed writer.
    - Writing: :meth:`save` writes one palette PNG atomically (:func:`save_label_png`).

    Args:
        path (str): The folder.
        record_file (str): Name of the settings record inside it.
        record_keys (Sequence[str]): Record keys whose change changes the masks (the others are
            informative).
        kind (str): What the folder holds, for the messages. Default: ``'label'``.
        overwrite_hint (str): How a user of the tool regenerates the folder, for the messages.
            Default: ``'overwrite=True'``.
    """

    def __init__(self, path: str, record_file: str, record_keys: Sequence[str],
                 kind: str = 'label', overwrite_hint: str = 'overwrite=True') -> None:
        self.path = path
        self.record_file = record_file
        self.record_keys = tuple(record_keys)
        self.kind = kind
        self.overwrite_hint = overwrite_hint

    @classmethod
    def of(cls, kind: str, path: str) -> 'LabelDir':
        """The folder ``path`` of a kind of :data:`FOLDER_KINDS` (``'pseudo_label'``,
        ``'affinity_mask'``)."""
        if kind not in FOLDER_KINDS:
            raise KeyError(f'LabelDir: unknown folder kind {kind!r}; expected one of '
                           f'{sorted(FOLDER_KINDS)}')
        return cls(path, **FOLDER_KINDS[kind])

    @property
    def record_path(self) -> str:
        return osp.join(self.path, self.record_file)

    def png_path(self, img_path: str) -> str:
        """``{path}/{image basename}.png``."""
        return osp.join(self.path, osp.splitext(osp.basename(img_path))[0] + '.png')

    def read_record(self) -> Optional[dict]:
        """The folder's record, or None when it has none.

        Raises:
            ValueError: If the record does not parse (naming the file).
        """
        if not osp.isfile(self.record_path):
            return None
        with open(self.record_path) as f:
            try:
                return json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f'{self.kind} folder {self.path}: its record '
                                 f'{self.record_path} is corrupt ({e})') from e

    def differences(self, old: dict, new: dict) -> List[str]:
        """``'key: old -> new'`` for every key of :attr:`record_keys` that differs.

        The threshold is compared as ``bg_threshold`` only: a record whose ``test_cfg`` also
        carries it (the layout of 0.1.0) resumes when the rest of its map settings agree. Old
        names of ``test_cfg`` values (``attn_path='fused'``, :data:`VALUE_ALIASES` of
        :mod:`~mmseg_mctformer.models.heads.localization_test_cfg`) compare as their current
        names, in the record's ``test_cfg`` and in those of the records it holds (``maps``).
        """
        old, new = (_current_names(_without_test_cfg_threshold(r)) for r in (old, new))
        return [f'{key}: {old.get(key)!r} -> {new.get(key)!r}' for key in self.record_keys
                if _jsonable(old.get(key)) != _jsonable(new.get(key))]

    def masks(self) -> List[str]:
        """Names of the mask files (``.png``, ``.npz``) of the folder."""
        if not osp.isdir(self.path):
            return []
        return [n for n in os.listdir(self.path) if n.endswith(('.png', '.npz'))]

    def check(self, record: dict, overwrite: bool = False) -> bool:
        """Make the folder hold masks of ``record``'s settings only (see the class docstring).

        Call it on one rank (the main process) before the others start writing.

        Args:
            record (dict): The settings of this run (JSON-able).
            overwrite (bool): Delete masks made with other settings instead of refusing.
                Default: False.

        Returns:
            bool: Whether masks of other settings were deleted.
        """
        os.makedirs(self.path, exist_ok=True)
        masks = self.masks()
        problem = None
        try:
            old = self.read_record()
        except ValueError as e:
            old, problem = None, str(e).split(': ', 1)[1]
        if old is not None:
            diffs = self.differences(old, record)
            if diffs:
                problem = 'it was made with other settings (' + '; '.join(diffs) + ')'
            else:
                return False  # same settings: resume, the record stays as it is
        elif problem is None and masks:
            problem = (f'it holds {len(masks)} masks but no record {self.record_file} of their '
                       'settings')
        if problem is not None and not masks:
            problem = None  # a record without masks protects nothing: replaced
        deleted = False
        if problem is not None:
            if not overwrite:
                raise ValueError(
                    f'{self.kind} folder {self.path}: {problem}. Choose another output folder, '
                    f'or pass {self.overwrite_hint} to delete its masks and regenerate them.')
            for name in masks:
                os.remove(osp.join(self.path, name))
            print_log(f'{self.kind} folder {self.path}: {problem}; deleted {len(masks)} files, '
                      'regenerating', logger='current')
            deleted = True
        with atomic_output(self.record_path) as tmp:
            dump(record, tmp, file_format='json', indent=2)
        return deleted

    def prepare(self, record: dict, overwrite: bool = False) -> None:
        """:meth:`check` the folder and :meth:`remove_stale_tmp` on the main process; then every
        rank raises its error, if any (no rank is left waiting at a barrier)."""
        error = [None]
        if is_main_process():
            try:
                self.check(record, overwrite)
                removed = self.remove_stale_tmp()
                if removed:
                    print_log(f'{self.kind} folder {self.path}: removed {removed} stale '
                              'temporary files', logger='current')
            except (ValueError, OSError) as e:
                error = [f'{type(e).__name__}: {e}']
        broadcast_object_list(error)
        if error[0] is not None:
            raise (ValueError if error[0].startswith('ValueError') else OSError)(
                error[0].split(': ', 1)[1])

    def is_done(self, img_path: str, save_logits: bool = False) -> bool:
        """Whether the mask of ``img_path`` is complete: the PNG exists, decodes and has the
        image's size, and (with ``save_logits``) the ``.npz`` maps load."""
        png = self.png_path(img_path)
        if not is_valid_label_png(png, image_size(img_path)):
            return False
        if save_logits:
            try:
                with np.load(png[:-4] + '.npz') as f:
                    f['maps'], f['classes']
            except Exception:
                return False
        return True

    def pending(self, dataset, save_logits: bool = False) -> List[int]:
        """Indices of ``dataset`` (its data infos give ``img_path``) whose mask is not done."""
        return [i for i in range(len(dataset))
                if not self.is_done(dataset.get_data_info(i)['img_path'], save_logits)]

    def shared_pending(self, dataset, save_logits: bool = False) -> List[int]:
        """:meth:`pending` as the main process lists it, on every rank.

        A rank listing the folder itself could see images another rank has already written,
        and shard another list.
        """
        todo = [self.pending(dataset, save_logits) if is_main_process() else None]
        broadcast_object_list(todo)
        return todo[0]

    def remove_stale_tmp(self) -> int:
        """Remove the temporary files a killed writer left in the folder; return how many."""
        removed = 0
        for name in os.listdir(self.path) if osp.isdir(self.path) else []:
            if name.startswith('.') and name.endswith(TMP_SUFFIX):
                os.remove(osp.join(self.path, name))
                removed += 1
        return removed

    def save(self, img_path: str, label: np.ndarray, palette: Sequence[Sequence[int]]) -> str:
        """Write the (H, W) ``label`` of ``img_path`` as a palette PNG; return its path."""
        path = self.png_path(img_path)
        save_label_png(path, label, palette)
        return path

    def save_maps(self, img_path: str, classes: np.ndarray, maps: np.ndarray) -> str:
        """Write ``{basename}.npz`` beside the PNG of ``img_path``, atomically; return its path.

        Args:
            img_path (str): The image.
            classes (np.ndarray): (K,) int64 foreground class indices.
            maps (np.ndarray): (K, H, W) maps of those classes, stored as float16.
        """
        path = self.png_path(img_path)[:-4] + '.npz'
        with naming_errors(path), atomic_output(path) as tmp, open(tmp, 'wb') as f:
            np.savez_compressed(f, classes=classes, maps=maps.astype(np.float16))
        return path

    def write_background(self, dataset) -> int:
        """All-background masks (zeros, the dataset palette) for the images of ``dataset``
        without a foreground label (empty ``gt_class_labels``); valid masks are kept.

        Args:
            dataset (BaseDataset): Its data infos give ``img_path`` and ``gt_class_labels``.

        Returns:
            int: The number of images without a foreground label (masks written or kept).
        """
        palette = dataset_palette(dataset.metainfo, f'{self.kind} folder {self.path}')
        count = 0
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            if info['gt_class_labels']:
                continue
            count += 1
            width, height = image_size(info['img_path'])
            if not is_valid_label_png(self.png_path(info['img_path']), (width, height)):
                self.save(info['img_path'], np.zeros((height, width), np.uint8), palette)
        return count


def _without_test_cfg_threshold(record: dict) -> dict:
    """``record`` with ``bg_threshold`` left out of its ``test_cfg`` (a copy when it had one)."""
    test_cfg = record.get('test_cfg')
    if isinstance(test_cfg, dict) and 'bg_threshold' in test_cfg:
        test_cfg = {k: v for k, v in test_cfg.items() if k != 'bg_threshold'}
        return {**record, 'test_cfg': test_cfg}
    return record


def _current_names(record):
    """``record`` (a copy) with the old names of :data:`VALUE_ALIASES` replaced by the current
    ones in every ``test_cfg`` dict it holds, its own and those of nested records."""
    if not isinstance(record, dict):
        return record
    renamed = {k: _current_names(v) for k, v in record.items()}
    test_cfg = renamed.get('test_cfg')
    if isinstance(test_cfg, dict):
        renamed['test_cfg'] = {
            k: VALUE_ALIASES.get(k, {}).get(v, v) if isinstance(v, str) else v
            for k, v in test_cfg.items()}
    return renamed
