"""Loading of weakly supervised object localisation (WSOL) masks: instance masks + ignore map."""
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from PIL import Image


def nearest_resize(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a 2-D array, sampling source pixel ``floor(i * in / out)``.

    This is OpenCV's ``INTER_NEAREST`` (and PyTorch's ``'nearest'``) rule, the one the WSOL
    protocol uses for its masks; it commutes with pixel-wise logical operations, so resizing
    instance masks before or after OR-ing them gives the same mask.

    Args:
        mask (np.ndarray): Array (h, w).
        size (tuple[int, int]): Output size (H, W).

    Returns:
        np.ndarray: Array (H, W) of the input dtype.
    """
    out_h, out_w = int(size[0]), int(size[1])
    in_h, in_w = mask.shape[:2]
    if (in_h, in_w) == (out_h, out_w):
        return mask
    rows = np.minimum(np.floor(np.arange(out_h) * (in_h / out_h)).astype(np.int64), in_h - 1)
    cols = np.minimum(np.floor(np.arange(out_w) * (in_w / out_w)).astype(np.int64), in_w - 1)
    return mask[rows[:, None], cols[None, :]]


def read_binary_mask(path: str) -> np.ndarray:
    """Read a binary mask PNG (any mode) as a bool array: grey value > 0 is set.

    Args:
        path (str): Mask file.

    Returns:
        np.ndarray: (h, w) bool.
    """
    try:
        with Image.open(path) as img:
            grey = np.asarray(img.convert('L'))
    except FileNotFoundError:
        raise FileNotFoundError(f'Mask file {path} does not exist') from None
    except OSError as err:
        raise OSError(f'Mask file {path} cannot be read: {err}') from err
    return grey > 0


@TRANSFORMS.register_module()
class LoadWSOLAnnotations(BaseTransform):
    """Load the localisation mask of a WSOL sample as ``gt_seg_map``.

    The WSOL protocol of Choe et al. ("Evaluating Weakly Supervised Object Localization Methods
    Right", CVPR 2020) stores, per image, one binary PNG per object instance of the image's class
    and an "ignore" PNG (boxes of unannotated or ambiguous regions). The instances are OR-ed;
    ignore pixels that are not foreground become ``ignore_index``. The map follows the
    ``gt_sem_seg`` convention (``docs/conventions.md``): 0 background, ``c + 1`` foreground of the
    image's class ``c``, ``ignore_index`` ignored. Every PNG is resized on its own (nearest, the
    protocol's rule) to ``scale``, or to the image's size when ``scale`` is None; masks whose
    size differs from the image's are therefore fine.

    Required keys: ``mask_paths`` (list of str), ``ignore_path`` (str or None),
    ``gt_class_labels`` (one class), ``img_shape`` (when ``scale`` is None).
    Added keys: ``gt_seg_map`` (uint8 (H, W)), ``seg_fields``.

    Args:
        scale (tuple[int, int], optional): Output size (W, H) as mmcv writes scales. Default:
            None (the image's current ``img_shape``).
        ignore_index (int): Value of ignored pixels. Default: 255.
    """

    def __init__(self, scale: Optional[Sequence[int]] = None, ignore_index: int = 255) -> None:
        if scale is not None and (len(scale) != 2 or min(int(s) for s in scale) < 1):
            raise ValueError(f'LoadWSOLAnnotations: scale must be (W, H) with positive sides or '
                             f'None, got {scale!r}')
        self.scale = None if scale is None else (int(scale[0]), int(scale[1]))
        self.ignore_index = int(ignore_index)

    def transform(self, results: dict) -> dict:
        """Add ``results['gt_seg_map']`` (see the class docstring)."""
        name = results.get('img_path', '<sample>')
        mask_paths = results.get('mask_paths')
        if not mask_paths:
            raise KeyError(f'LoadWSOLAnnotations: {name} has no mask_paths (the split has no '
                           'localization.txt, or the image has no entry in it)')
        labels = np.asarray(results.get('gt_class_labels', []), dtype=np.int64).ravel()
        if labels.size != 1:
            raise ValueError(f'LoadWSOLAnnotations: {name} must have exactly one class in '
                             f'gt_class_labels, got {labels.tolist()}')
        if self.scale is None:
            size = tuple(int(s) for s in results['img_shape'][:2])
        else:
            size = (self.scale[1], self.scale[0])
        fg = np.zeros(size, dtype=bool)
        for path in mask_paths:
            fg |= nearest_resize(read_binary_mask(path), size)
        ignore_path = results.get('ignore_path')
        ignore = np.zeros(size, dtype=bool)
        if ignore_path:
            if not osp.isfile(ignore_path):
                raise FileNotFoundError(f'LoadWSOLAnnotations: ignore file {ignore_path} of '
                                        f'{name} does not exist')
            ignore = nearest_resize(read_binary_mask(ignore_path), size) & ~fg
        gt = np.zeros(size, dtype=np.uint8)
        gt[fg] = int(labels[0]) + 1
        gt[ignore] = self.ignore_index
        results['gt_seg_map'] = gt
        fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in fields:
            fields.append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'ignore_index={self.ignore_index})')
