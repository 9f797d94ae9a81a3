"""Packing of weakly supervised samples."""
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
        num_classes (int): Number of foreground classes ``C``.
        allow_missing_labels (bool): Pack samples without ``gt_class_labels`` (no field set)
            instead of raising, e.g. for inference on unlabelled images. Default: False.
        meta_keys (Sequence[str]): Meta keys to pack. Default: those of ``PackSegInputs``.
    """

    def __init__(self,
                 num_classes: int,
                 allow_missing_labels: bool = False,
                 meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                            'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label')):
        super().__init__(meta_keys=meta_keys)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'PackWSSSInputs: num_classes must be a positive int, got '
                             f'{num_classes!r}')
        self.num_classes = num_classes
        self.allow_missing_labels = allow_missing_labels

    def transform(self, results: dict) -> dict:
        """Pack ``inputs`` and ``data_samples`` (with ``gt_class_labels``)."""
        packed = super().transform(results)
        labels = results.get('gt_class_labels')
        if labels is None:
            if self.allow_missing_labels:
                return packed
            raise KeyError(f'PackWSSSInputs: {results.get("img_path")} has no gt_class_labels; '
                           'use a WSSS dataset or add LoadImageLevelLabels to the pipeline')
        idx = np.asarray(labels, dtype=np.int64).ravel()
        bad = idx[(idx < 0) | (idx >= self.num_classes)]
        if bad.size:
            raise ValueError(f'PackWSSSInputs: {results.get("img_path")} has labels '
                             f'{bad.tolist()} outside 0..{self.num_classes - 1} '
                             f'(num_classes={self.num_classes})')
        vec = torch.zeros(self.num_classes, dtype=torch.long)
        vec[torch.from_numpy(idx)] = 1
        packed['data_samples'].gt_class_labels = vec
        return packed

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'allow_missing_labels={self.allow_missing_labels}, meta_keys={self.meta_keys})')
