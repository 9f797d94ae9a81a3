"""Writing of seed masks (pseudo labels) as palette PNGs, in MMSeg's ``format_only`` pattern.

MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation
(https://arxiv.org/abs/2308.03005), Sec. 3: the seeds of the training images become the labels of
a fully supervised segmentation network.

:class:`PseudoLabelMetric` is to the seeds what ``IoUMetric(format_only=True, output_dir=...)`` is
to MMSeg's predictions: ``Runner.test()`` (or any ``TestLoop``) runs the model over a split, with
the runner's own dataloader and sampler (hence rank sharding), and the metric writes one PNG per
prediction. The helpers of this module make the folder resumable (:func:`pending_indices`) and
record what produced it (:func:`check_pseudo_label_dir`).
"""
import json
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump
from mmengine.logging import print_log
from mmseg.registry import METRICS
from mmseg.utils import get_palette
from PIL import Image

from ...models.utils.crf import CRF_MISSING_MSG, crf_available, crf_seed_labels
from ...models.utils.seed import kept_class_mask, seed_labels
from ...utils.io import atomic_output

#: Record of the settings that produced a pseudo-label folder (see :func:`check_pseudo_label_dir`).
RECORD_FILE = 'pseudo_label_info.json'
#: Suffix of the temporary files of :func:`mmseg_mctformer.utils.io.atomic_output`.
TMP_SUFFIX = '.tmp'
#: Record keys whose change changes the masks (the others are informative).
RECORD_KEYS = ('checkpoint', 'bg_threshold', 'test_cfg', 'crf', 'precision')


def default_palette(num_classes: int) -> List[List[int]]:
    """MMSeg's PASCAL VOC palette (``get_palette('voc')``) for ``num_classes`` labels.

    Beyond its 21 colours the same bit-interleaved colour map continues
    (:func:`mmseg_mctformer.datasets.utils.voc_colormap`).
    """
    if num_classes <= 21:
        return [list(c) for c in get_palette('voc')[:num_classes]]
    from ...datasets.utils import voc_colormap
    return voc_colormap(num_classes)


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
    with _naming_errors(path), atomic_output(path, suffix='.png') as tmp:
        image.save(tmp, format='PNG')


class _naming_errors:
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


def is_done(out_dir: str, img_path: str, save_logits: bool = False) -> bool:
    """Whether the pseudo label of ``img_path`` in ``out_dir`` is complete.

    Complete means: the PNG exists, decodes and has the image's size, and (with ``save_logits``)
    the ``.npz`` loads.
    """
    name = osp.splitext(osp.basename(img_path))[0]
    if not is_valid_label_png(osp.join(out_dir, name + '.png'), image_size(img_path)):
        return False
    if save_logits:
        try:
            with np.load(osp.join(out_dir, name + '.npz')) as f:
                f['maps'], f['classes']
        except Exception:
            return False
    return True


def pending_indices(dataset, out_dir: str, save_logits: bool = False) -> List[int]:
    """Indices of ``dataset`` whose pseudo label in ``out_dir`` is missing or incomplete."""
    return [i for i in range(len(dataset))
            if not is_done(out_dir, dataset.get_data_info(i)['img_path'], save_logits)]


def remove_stale_tmp(out_dir: str) -> int:
    """Remove the temporary files a killed writer left in ``out_dir``; return how many."""
    removed = 0
    for name in os.listdir(out_dir):
        if name.startswith('.') and name.endswith(TMP_SUFFIX):
            os.remove(osp.join(out_dir, name))
            removed += 1
    return removed


def _differences(old: dict, new: dict) -> List[str]:
    return [f'{key}: {old.get(key)!r} -> {new.get(key)!r}' for key in RECORD_KEYS
            if json.loads(json.dumps(old.get(key))) != json.loads(json.dumps(new.get(key)))]


def check_pseudo_label_dir(out_dir: str, record: dict, overwrite: bool = False) -> bool:
    """Make ``out_dir`` hold pseudo labels of ``record``'s settings only.

    ``record`` (JSON-able) describes what produces the masks: ``checkpoint``, ``bg_threshold``,
    ``test_cfg`` (the map settings), ``crf``, ``precision`` (only for mixed precision) and
    informative keys such as ``config``. It is
    written to ``{out_dir}/pseudo_label_info.json`` before any mask. A later run into the same
    folder resumes it when the keys :data:`RECORD_KEYS` agree; otherwise it is refused with a
    ``ValueError`` that lists the differences, unless ``overwrite`` is set: then the masks of the
    folder are deleted and the folder is regenerated. A folder with masks but no record (written
    by hand or by an older version) is treated as different.

    Call it on one rank (the main process) before the others start writing.

    Args:
        out_dir (str): The pseudo-label folder (created when missing).
        record (dict): The settings of this run.
        overwrite (bool): Delete masks made with other settings instead of refusing.
            Default: False.

    Returns:
        bool: Whether masks of other settings were deleted.
    """
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, RECORD_FILE)
    masks = [n for n in os.listdir(out_dir) if n.endswith(('.png', '.npz'))]
    problem = None
    if osp.isfile(path):
        with open(path) as f:
            try:
                old = json.load(f)
            except json.JSONDecodeError as e:
                old, problem = None, f'its record {path} is corrupt ({e})'
        if old is not None:
            diffs = _differences(old, record)
            if diffs:
                problem = 'it was made with other settings (' + '; '.join(diffs) + ')'
    elif masks:
        problem = f'it holds {len(masks)} masks but no record {RECORD_FILE} of their settings'
    deleted = False
    if problem is None and osp.isfile(path):
        return deleted  # same settings: resume, the record stays as it is
    if problem is not None:
        if not overwrite:
            raise ValueError(
                f'pseudo-label folder {out_dir}: {problem}. Choose another output folder, or '
                'pass overwrite=True (tools/make_pseudo_labels.py --overwrite) to delete its '
                'masks and regenerate them.')
        for name in masks:
            os.remove(osp.join(out_dir, name))
        print_log(f'pseudo-label folder {out_dir}: {problem}; deleted {len(masks)} files, '
                  'regenerating', logger='current')
        deleted = True
    with atomic_output(path) as tmp:
        dump(record, tmp, file_format='json', indent=2)
    return deleted


@METRICS.register_module()
class PseudoLabelMetric(BaseMetric):
    """Write each prediction's seed as a palette PNG (format-only, no score).

    Used as the evaluator of ``Runner.test()`` (``tools/make_pseudo_labels.py``,
    :class:`PseudoLabelHook`), as ``IoUMetric(format_only=True, output_dir=...)`` is for MMSeg's
    predictions. For every data sample it writes ``{output_dir}/{image basename}.png``: an
    indexed PNG with the dataset palette, 0 = background, c + 1 = foreground class c
    (``docs/conventions.md``), computed by :func:`~mmseg_mctformer.models.utils.seed_labels` from
    the maps (``seg_logits[1:]``), the sample's ``kept_classes`` and the background threshold.

    - Every file is written atomically (:func:`mmseg_mctformer.utils.io.atomic_output`); a failed
      write (``ENOSPC``...) leaves no file and raises an ``OSError`` naming it.
    - Which images to label is the dataloader's business: :func:`pending_indices` gives the ones
      still missing, and the runner's sampler shards them over the ranks.

    Args:
        output_dir (str): Output folder.
        bg_threshold (float, optional): Background threshold. Default: None, which uses the
            ``bg_threshold`` stored in each prediction (the model's ``test_cfg``).
        save_logits (bool): Also save ``{basename}.npz`` with the maps of the kept classes
            (``classes`` (K,) int64 foreground indices, ``maps`` (K, H, W) float16).
            Default: False.
        crf (dict, optional): Dense-CRF post-processing: ``dict()`` for the defaults of
            :data:`~mmseg_mctformer.models.utils.crf.DEFAULT_CRF_CFG`, or overrides. Needs
            ``pydensecrf`` (``pip install pydensecrf2``); skipped with a warning when absent.
            Default: None (no CRF).
        collect_device (str): Device to collect the (tiny) results on. Default: 'cpu'.
        prefix (str, optional): Prefix of the metric names. Default: 'pseudo_label'.

    Returns (``evaluate``): ``{prefix}/written``, the number of masks written by all ranks
    (a rank's padding duplicates included, if its sampler pads).
    """
    default_prefix: Optional[str] = 'pseudo_label'

    def __init__(self,
                 output_dir: str,
                 bg_threshold: Optional[float] = None,
                 save_logits: bool = False,
                 crf: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not output_dir:
            raise ValueError(f'PseudoLabelMetric: output_dir must be a folder, got {output_dir!r}')
        if bg_threshold is not None and not 0 <= float(bg_threshold) <= 1:
            raise ValueError('PseudoLabelMetric: bg_threshold must lie in [0, 1] (the maps are '
                             f'normalised to [0, 1]), got {bg_threshold}')
        self.output_dir = output_dir
        self.bg_threshold = None if bg_threshold is None else float(bg_threshold)
        self.save_logits = save_logits
        self.crf = crf
        self.crf_on = crf is not None and crf_available()
        if crf is not None and not self.crf_on:
            print_log(f'PseudoLabelMetric: {CRF_MISSING_MSG}', logger='current', level=30)

    def _palette(self) -> list:
        meta = self.dataset_meta or {}
        if meta.get('palette'):
            return meta['palette']
        if not meta.get('classes'):
            raise ValueError('PseudoLabelMetric: dataset_meta has neither palette nor classes')
        return default_palette(len(meta['classes']))

    def seed(self, data_sample: dict) -> np.ndarray:
        """The (H, W) uint8 seed of one prediction (dict of ``MCTformer.predict``)."""
        img_path = data_sample.get('img_path', '?')
        if 'seg_logits' not in data_sample:
            raise KeyError(f'PseudoLabelMetric: the prediction of {img_path} has no seg_logits')
        maps = data_sample['seg_logits']['data'][1:].float().cpu()
        thr = self.bg_threshold
        if thr is None:
            if 'bg_threshold' not in data_sample:
                raise KeyError(f'PseudoLabelMetric: the prediction of {img_path} has no '
                               'bg_threshold; set the metric\'s bg_threshold')
            thr = float(data_sample['bg_threshold'])
        kept = kept_class_mask(data_sample.get('kept_classes'), maps.shape[0]).cpu()
        if self.crf_on:
            from mmcv import imread
            rgb = imread(img_path, channel_order='rgb')
            return crf_seed_labels(rgb, maps.numpy(), thr, self.crf, kept.numpy())
        return seed_labels(maps, thr, kept).numpy().astype(np.uint8)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Write the PNG (and ``.npz``) of each prediction.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): Predictions with ``img_path``, ``ori_shape``,
                ``seg_logits``, ``kept_classes`` and ``bg_threshold``.
        """
        palette = self._palette()
        for data_sample in data_samples:
            img_path = data_sample.get('img_path')
            if img_path is None:
                raise KeyError('PseudoLabelMetric: a prediction has no "img_path" in its '
                               'metainfo; the PNG is named after it')
            label = self.seed(data_sample)
            ori_shape = data_sample.get('ori_shape')
            if ori_shape is not None and tuple(label.shape) != tuple(ori_shape[:2]):
                raise ValueError(f'PseudoLabelMetric: the mask of {img_path} has shape '
                                 f'{label.shape}, expected the original image shape '
                                 f'{tuple(ori_shape[:2])}')
            name = osp.splitext(osp.basename(img_path))[0]
            if self.save_logits:
                maps = data_sample['seg_logits']['data'][1:].float().cpu()
                kept = kept_class_mask(data_sample.get('kept_classes'), maps.shape[0]).cpu()
                classes = torch.nonzero(kept).flatten().numpy().astype(np.int64)
                path = osp.join(self.output_dir, name + '.npz')
                with _naming_errors(path), atomic_output(path) as tmp, open(tmp, 'wb') as f:
                    np.savez_compressed(f, classes=classes,
                                        maps=maps[classes].numpy().astype(np.float16))
            save_label_png(osp.join(self.output_dir, name + '.png'), label, palette)
            self.results.append(1)

    def compute_metrics(self, results: list) -> dict:
        """The number of masks written (``written``)."""
        return dict(written=len(results))
