"""mIoU of an MMSeg segmentor with and without dense-CRF post-processing, side by side.

WSSS papers report the segmentor's val mIoU with and without the fully connected CRF
(Kraehenbuehl & Koltun) as two columns; MMSeg has no CRF. :class:`CRFIoUMetric` is MMSeg's
``IoUMetric`` that also scores the CRF-refined prediction of every image, the CRFs running in CPU
worker processes while the model predicts the next batch.
"""
import multiprocessing
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from PIL import Image
from prettytable import PrettyTable

from ...models.utils.crf import CRF_MISSING_MSG, crf_available, dense_crf

#: CRF of a segmentor's softmax on VOC: the DeepLab-v2 settings (iterations 10, smoothness kernel
#: std 1 weight 3, appearance kernel xy std 67, rgb std 3, weight 4), as ToCo and deeplab-pytorch
#: use them.
SEG_CRF_CFG = dict(iters=10, gaussian_sxy=1, gaussian_compat=3, bilateral_sxy=67,
                   bilateral_srgb=3, bilateral_compat=4)


def crf_areas(img_path: str, probs: np.ndarray, label: np.ndarray, num_classes: int,
              ignore_index: int, crf_cfg: dict) -> tuple:
    """Class areas of the CRF-refined prediction of one image (runs in a worker process).

    NumPy, PIL and ``pydensecrf`` only: a process forked from one that ran torch's OpenMP
    kernels can hang in its next OpenMP call. The areas are those of
    ``IoUMetric.intersect_and_union`` (labels >= K and ``ignore_index`` pixels are not counted).

    Args:
        img_path (str): The image (read as RGB), of size (H, W).
        probs (np.ndarray): Softmax of the segmentor, shape (K, H, W).
        label (np.ndarray): Ground truth, shape (H, W).
        num_classes (int): K.
        ignore_index (int): Label value that is not evaluated.
        crf_cfg (dict): Keyword arguments of
            :func:`~mmseg_mctformer.models.utils.crf.dense_crf`.

    Returns:
        tuple[np.ndarray]: ``area_intersect, area_union, area_pred_label, area_label``, each (K,).
    """
    with Image.open(img_path) as im:
        image = np.asarray(im.convert('RGB'))
    pred = dense_crf(image, probs, **crf_cfg).argmax(0)
    keep = label != ignore_index
    pred, label = pred[keep], label[keep]
    intersect = np.bincount(pred[pred == label], minlength=num_classes)[:num_classes]
    area_pred = np.bincount(pred, minlength=num_classes)[:num_classes]
    area_label = np.bincount(label, minlength=num_classes)[:num_classes]
    return intersect, area_pred + area_label - intersect, area_pred, area_label


@METRICS.register_module()
class CRFIoUMetric(IoUMetric):
    """``IoUMetric`` of the predictions and of their dense-CRF refinement.

    The CRF takes the softmax of each sample's ``seg_logits`` (K, H, W) at the original image
    size (MMSeg's ``predict`` output; :class:`~mmseg_mctformer.models.ProbSegTTAModel` gives the
    averaged multi-scale + flip probabilities) and the image of ``img_path``. Reported: the
    keys of ``IoUMetric`` and the same with the ``crf/`` prefix (``crf/mIoU``...); a table logs
    both side by side.

    Args:
        crf (dict, optional): Overrides of :data:`SEG_CRF_CFG`. Default: None.
        num_workers (int): CPU worker processes for the CRFs (0: in this process). Default: 0.
        start_method (str): How the workers start (``multiprocessing``): ``'fork'`` starts at
            once; ``'spawn'`` imports the package in each worker first. Default: ``'fork'``.
        **kwargs: See :class:`mmseg.evaluation.IoUMetric`.
    """

    def __init__(self, crf: Optional[dict] = None, num_workers: int = 0,
                 start_method: str = 'fork', **kwargs) -> None:
        super().__init__(**kwargs)
        if not crf_available():
            raise ImportError(CRF_MISSING_MSG.replace('the CRF step is skipped',
                                                      'CRFIoUMetric needs it'))
        if num_workers < 0:
            raise ValueError(f'CRFIoUMetric: num_workers must be >= 0, got {num_workers}')
        self.crf_cfg = dict(SEG_CRF_CFG, **(crf or {}))
        self.num_workers = num_workers
        self.start_method = start_method
        self._pool = None
        self._pending = []  # CRF results (or futures) in the order of self.results

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score each prediction (``IoUMetric``) and queue its CRF."""
        super().process(data_batch, data_samples)
        num_classes = len(self.dataset_meta['classes'])
        for data_sample in data_samples:
            if 'seg_logits' not in data_sample:
                raise KeyError(f'CRFIoUMetric: data sample {data_sample.get("img_path")} has no '
                               "'seg_logits' (K, H, W); expected a segmentor's predict output")
            probs = data_sample['seg_logits']['data'].float().softmax(0).cpu().numpy()
            label = data_sample['gt_sem_seg']['data'].squeeze(0).cpu().numpy().astype(np.int64)
            args = (data_sample['img_path'], probs, label, num_classes, self.ignore_index,
                    self.crf_cfg)
            if self.num_workers == 0:
                self._pending.append(crf_areas(*args))
                continue
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.num_workers, mp_context=multiprocessing.get_context(self.start_method))
            self._pending.append(self._pool.submit(crf_areas, *args))
            # bound the probabilities waiting in the queue to a few per worker
            waiting = [f for f in self._pending if not isinstance(f, tuple) and not f.done()]
            if len(waiting) > 4 * self.num_workers:
                waiting[0].result()

    def evaluate(self, size: int) -> dict:
        """Wait for the CRFs, pair each with its prediction's areas, then evaluate."""
        crf = [tuple(torch.from_numpy(a.astype(np.float64)) for a in
                     (p if isinstance(p, tuple) else p.result())) for p in self._pending]
        if len(crf) != len(self.results):
            raise RuntimeError(f'CRFIoUMetric: {len(crf)} CRF results for {len(self.results)} '
                               'predictions')
        self.results = [tuple(r) + tuple(c) for r, c in zip(self.results, crf)]
        self._pending = []
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return super().evaluate(size)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """``IoUMetric``'s metrics of the predictions, and with ``crf/`` of their CRFs."""
        plain = super().compute_metrics([r[:4] for r in results])
        with_crf = super().compute_metrics([r[4:] for r in results])
        table = PrettyTable()
        table.field_names = ['', *plain.keys()]
        table.add_row(['prediction', *plain.values()])
        table.add_row(['+ dense CRF', *with_crf.values()])
        print_log(f'with and without dense CRF ({len(results)} images, '
                  f'{max(self.num_workers, 1)} CRF process(es)):\n'
                  + table.get_string(), MMLogger.get_current_instance())
        return OrderedDict(list(plain.items())
                           + [(f'crf/{k}', v) for k, v in with_crf.items()])
