"""Predictions written in the layout of an evaluation server (``tools/test.py --format-only``).

- ``voc``: the PASCAL VOC 2012 server's archive layout,
  ``{output_dir}/results/VOC2012/Segmentation/comp6_test_cls/{image}.png``, indexed PNGs with the
  VOC palette (comp6: trained with data beyond the VOC segmentation masks, as WSSS methods are).
  ``tar -czf results.tgz -C {output_dir} results`` is the file to upload.
- ``coco``: the COCO-Stuff / COCO result format, ``{output_dir}/results/coco_seg_results.json``:
  one entry ``{"image_id", "category_id", "segmentation": {"size": [h, w], "counts": str}}``
  per predicted class of each image, ``counts`` being COCO's compressed run-length encoding
  (``pycocotools.mask.encode``); image ids come from the file names
  (``COCO_val2014_000000000042`` -> 42), category ids from the COCO 80-class order.
"""
import json
import os.path as osp
import re
from typing import Dict, Sequence

import numpy as np
from mmengine.dist import all_gather_object, is_main_process
from mmengine.logging import print_log
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS

from ...utils.io import atomic_write_text
from ...utils.label_dir import dataset_palette, save_label_png

#: Sub-folder of each server's results.
SERVER_LAYOUTS = dict(voc='results/VOC2012/Segmentation/comp6_test_cls', coco='results')
#: COCO category ids of the 80 object classes, in the order of ``COCOWSSSDataset`` (1..80).
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90)
COCO_RESULT_FILE = 'coco_seg_results.json'


def rle_encode(mask: np.ndarray) -> dict:
    """COCO's compressed run-length encoding of a binary mask (``pycocotools.mask.encode``).

    Runs are counted in column-major order starting with a run of zeros; the counts are written
    as COCO's string (5 bits a character, offset 48, each count after the second as the
    difference to the count two before).

    Args:
        mask (np.ndarray): Binary mask of shape (H, W).

    Returns:
        dict: ``{'size': [H, W], 'counts': str}``.
    """
    flat = np.asarray(mask, dtype=bool).ravel(order='F')
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    chars = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1f
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return {'size': [int(mask.shape[0]), int(mask.shape[1])], 'counts': ''.join(chars)}


def coco_image_id(img_path: str) -> int:
    """``.../COCO_val2014_000000000042.jpg`` -> 42 (the trailing digits of the name)."""
    match = re.search(r'(\d+)$', osp.splitext(osp.basename(img_path))[0])
    if match is None:
        raise ValueError(f'coco_image_id: no image id (trailing digits) in the file name of '
                         f'{img_path}; expected e.g. COCO_val2014_000000000042.jpg')
    return int(match.group(1))


@METRICS.register_module()
class SubmissionMetric(IoUMetric):
    """Write the predictions for an evaluation server; computes no metric.

    ``IoUMetric(format_only=True)`` with the server's layout: indexed palette PNGs (written
    atomically) for VOC, one result JSON for COCO (the predictions of every rank collected on the
    main process). ``pred_sem_seg`` labels: 0 background, c + 1 class c.

    Args:
        output_dir (str): Root of the results (the server's layout is created below it).
        server (str): ``'voc'`` or ``'coco'``. Default: ``'voc'``.
        **kwargs: See :class:`mmseg.evaluation.IoUMetric` (``format_only`` is always True).
    """

    def __init__(self, output_dir: str, server: str = 'voc', **kwargs) -> None:
        if server not in SERVER_LAYOUTS:
            raise ValueError(f'SubmissionMetric: unknown server {server!r}, expected one of '
                             f'{sorted(SERVER_LAYOUTS)}')
        kwargs.pop('format_only', None)
        self.server = server
        self.root = output_dir
        super().__init__(format_only=True, **kwargs)
        # set after IoUMetric's __init__, which would create the folder when built; the writers
        # create it when they write
        self.output_dir = osp.join(output_dir, SERVER_LAYOUTS[server])

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Write the PNG of each prediction (VOC) or keep its per-class RLEs (COCO)."""
        for data_sample in data_samples:
            label = data_sample['pred_sem_seg']['data'].squeeze(0).cpu().numpy()
            if self.server == 'voc':
                palette = dataset_palette(self.dataset_meta, 'SubmissionMetric')
                name = osp.splitext(osp.basename(data_sample['img_path']))[0]
                save_label_png(osp.join(self.output_dir, name + '.png'), label, palette)
                continue
            image_id = coco_image_id(data_sample['img_path'])
            for value in np.unique(label):
                if value == 0 or value > len(COCO_CATEGORY_IDS):
                    continue
                self.results.append(dict(image_id=image_id,
                                         category_id=COCO_CATEGORY_IDS[int(value) - 1],
                                         segmentation=rle_encode(label == value)))

    def evaluate(self, size: int) -> Dict[str, float]:
        """Write the COCO result file (main process); return the output location."""
        if self.server == 'coco':
            parts = all_gather_object(self.results)  # every rank's list, on every rank
            if is_main_process():
                results = [r for part in parts for r in part]
                path = osp.join(self.output_dir, COCO_RESULT_FILE)
                atomic_write_text(path, json.dumps(results))
                print_log(f'SubmissionMetric: {len(results)} COCO results in {path}',
                          logger='current')
        self.results.clear()
        print_log(f'SubmissionMetric: {self.server} server results in {self.output_dir}',
                  logger='current')
        return {}
