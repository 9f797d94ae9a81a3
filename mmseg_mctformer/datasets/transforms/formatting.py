"""Packing of weakly supervised samples."""
from typing import Optional

import numpy as np
import torch
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackWSSSInputs(PackSegInputs):
    """``PackSegInputs`` that also packs the image-level labels.

    ``results['gt_class_labels']`` (foreground indices ``0..C-1``) becomes the data field
    ``gt_class_labels`` of the :class:`SegDataSample`: a multi-hot ``torch.LongTensor (C,)``.
    A loaded mask (``gt_seg_map``) stays packed as ``gt_sem_seg`` for evaluation.

    Args:
        num_classes (int, optional): Number of foreground classes ``C``. Default: None, which
            means ``results['num_classes']`` (set by the WSSS datasets). When both are given they
            must agree (a config written for another dataset fails here, naming both).
        allow_missing_labels (bool): Pack samples without ``gt_class_labels`` (no field set)
            instead of raising, e.g. for inference on unlabelled images. Default: False.
        meta_keys (Sequence[str]): Meta keys to pack. Default: those of ``PackSegInputs``.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 allow_missing_labels: bool = False,
                 meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                            'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label')):
        super().__init__(meta_keys=meta_keys)
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f'PackWSSSInputs: num_classes must be a positive int, got '
                             f'{num_classes!r}')
        self.num_classes = num_classes
        self.allow_missing_labels = allow_missing_labels

    def transform(self, results: dict) -> dict:
        """Pack ``inputs`` and ``data_samples`` (with ``gt_class_labels``)."""
        img, mask = results.get('img'), results.get('gt_seg_map')
        if img is not None and mask is not None and tuple(img.shape[:2]) != tuple(mask.shape[:2]):
            raise ValueError(f'PackWSSSInputs: the mask {results.get("seg_map_path")} has size '
                             f'{tuple(mask.shape[:2])} (H, W), its image '
                             f'{results.get("img_path")} {tuple(img.shape[:2])}; a mask must '
                             'cover its image pixel for pixel')
        packed = super().transform(results)
        labels = results.get('gt_class_labels')
        if labels is None:
            if self.allow_missing_labels:
                return packed
            raise KeyError(f'PackWSSSInputs: {results.get("img_path")} has no gt_class_labels; '
                           'use a WSSS dataset or add LoadImageLevelLabels to the pipeline')
        num_classes = self._num_classes(results)
        idx = np.asarray(labels, dtype=np.int64).ravel()
        bad = idx[(idx < 0) | (idx >= num_classes)]
        if bad.size:
            raise ValueError(f'PackWSSSInputs: {results.get("img_path")} has labels '
                             f'{bad.tolist()} outside 0..{num_classes - 1} '
                             f'(num_classes={num_classes})')
        vec = torch.zeros(num_classes, dtype=torch.long)
        vec[torch.from_numpy(idx)] = 1
        packed['data_samples'].gt_class_labels = vec
        return packed

    def _num_classes(self, results: dict) -> int:
        given = results.get('num_classes')
        if self.num_classes is None:
            if given is None:
                raise KeyError(f'PackWSSSInputs: {results.get("img_path")}: num_classes is not '
                               'set and the dataset gives none; set PackWSSSInputs.num_classes')
            return int(given)
        if given is not None and int(given) != self.num_classes:
            raise ValueError(f'PackWSSSInputs: num_classes={self.num_classes} in the pipeline, but '
                             f'the dataset of {results.get("img_path")} has {given} foreground '
                             'classes')
        return self.num_classes

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'allow_missing_labels={self.allow_missing_labels}, meta_keys={self.meta_keys})')
