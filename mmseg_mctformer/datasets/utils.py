"""Image-level labels for weakly supervised semantic segmentation (WSSS).

A WSSS image carries the sorted list of its foreground classes, ``gt_class_labels``: indices
``0..C-1`` of the ``C`` foreground classes. In a mask, value ``0`` is background, ``v`` in ``1..C``
is foreground class ``v - 1`` and ``ignore_index`` (255) is unlabelled; the two last do not count.

These helpers are shared by the datasets (labels derived once at load time) and by the
``LoadImageLevelLabels`` transform (labels derived in the pipeline).
"""
import os.path as osp
from typing import Dict, List, Sequence, Union

import numpy as np
from PIL import Image


def read_mask(path: str) -> np.ndarray:
    """Read a label mask (palette or grey-scale PNG) as class indices.

    Args:
        path (str): Path of the mask file.

    Returns:
        np.ndarray: ``(H, W)`` uint8 array of class indices.
    """
    try:
        with Image.open(path) as img:
            mode = img.mode
            mask = np.asarray(img)
    except FileNotFoundError:
        raise FileNotFoundError(f'Mask file {path} does not exist') from None
    except OSError as err:
        raise OSError(f'Mask file {path} cannot be read: {err}') from err
    if mask.ndim != 2 or mode not in ('P', 'L', 'I', 'I;16'):
        raise ValueError(
            f'Mask file {path} must be a single-channel (palette or grey-scale) image of class '
            f'indices, but got mode {mode!r} with shape {mask.shape}')
    return mask


def labels_from_mask(mask: np.ndarray,
                     num_classes: int,
                     ignore_index: int = 255,
                     path: str = '<array>') -> List[int]:
    """Image-level labels of a mask: the foreground classes it contains.

    Args:
        mask (np.ndarray): ``(H, W)`` integer mask, ``0`` background, ``1..C`` classes.
        num_classes (int): Number of foreground classes ``C``.
        ignore_index (int): Value of unlabelled pixels. Default: 255.
        path (str): Name of the mask used in error messages. Default: ``'<array>'``.

    Returns:
        list[int]: Sorted foreground indices in ``0..C-1`` (mask value ``v`` -> label ``v - 1``).

    Raises:
        ValueError: If the mask holds a value outside ``{0, 1..C, ignore_index}``.
    """
    values = np.asarray(mask).ravel()
    if values.size and values.min() < 0:
        raise ValueError(f'Mask {path} holds negative class id {int(values.min())}; expected '
                         f'0 (background), 1..{num_classes} or {ignore_index} (ignore)')
    if values.dtype == np.uint8:
        counts = np.bincount(values, minlength=256)
        present = np.flatnonzero(counts)
    else:
        present = np.unique(values)
    bad = [int(v) for v in present if v > num_classes and v != ignore_index]
    if bad:
        raise ValueError(
            f'Mask {path} holds class id(s) {bad} beyond the class count; expected 0 '
            f'(background), 1..{num_classes} or {ignore_index} (ignore)')
    return [int(v) - 1 for v in present if 1 <= v <= num_classes]


def visible_labels(mask: np.ndarray,
                   classes: Sequence[int],
                   min_pixels: int,
                   ignore_index: int = 255) -> List[int]:
    """Image-level labels of a rendered scene; its barely visible objects become ignore.

    A class is labelled when at least ``min_pixels`` pixels of the mask show it. The pixels of a
    class with fewer (but some) are set to ``ignore_index``, so that neither the labels nor the
    mask claim an object too small to see.

    Args:
        mask (np.ndarray): ``(H, W)`` integer mask, ``0`` background, ``c + 1`` class ``c``;
            changed in place.
        classes (Sequence[int]): The foreground indices the scene may hold, in order.
        min_pixels (int): Fewest visible pixels for a class to be labelled.
        ignore_index (int): Value of unlabelled pixels. Default: 255.

    Returns:
        list[int]: The labelled classes, in the order of ``classes``.
    """
    counts = np.bincount(mask.ravel(), minlength=max(classes) + 2)
    for c in classes:
        if 0 < counts[c + 1] < min_pixels:
            mask[mask == c + 1] = ignore_index
    return [c for c in classes if counts[c + 1] >= min_pixels]


def multi_hot(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """Multi-hot vector of image-level labels.

    Args:
        labels (Sequence[int]): Foreground indices in ``0..C-1``.
        num_classes (int): Number of foreground classes ``C``.

    Returns:
        np.ndarray: ``(C,)`` float32 vector, 1 at the given indices.
    """
    vec = np.zeros(num_classes, dtype=np.float32)
    vec[list(labels)] = 1
    return vec


def load_label_file(path: str, num_classes: int) -> Dict[str, List[int]]:
    """Read a ``cls_labels.npy`` file: a pickled dict ``{image name: (C,) multi-hot array}``.

    Args:
        path (str): The ``.npy`` file (as written by ``np.save(path, dict)``).
        num_classes (int): Number of foreground classes ``C``.

    Returns:
        dict[str, list[int]]: Image name -> sorted foreground indices.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'label_file {path} does not exist')
    try:
        raw = np.load(path, allow_pickle=True)
    except (OSError, ValueError) as err:
        raise ValueError(f'label_file {path} is not a readable .npy file: {err}') from err
    is_scalar = isinstance(raw, np.ndarray) and raw.dtype == object and raw.shape == ()
    table = raw.item() if is_scalar else raw
    if not isinstance(table, dict):
        raise ValueError(f'label_file {path} must hold a dict {{image name: multi-hot array}}, '
                         f'but holds {type(table).__name__}')
    labels = {}
    for name, vec in table.items():
        vec = np.asarray(vec).ravel()
        if vec.shape != (num_classes, ):
            raise ValueError(f'label_file {path}: entry {name!r} has {vec.size} values, expected '
                             f'{num_classes} (one per foreground class)')
        labels[str(name)] = [int(i) for i in np.flatnonzero(vec > 0)]
    return labels


def save_label_file(path: str, labels: Dict[str, Sequence[int]], num_classes: int) -> None:
    """Write image-level labels in the ``cls_labels.npy`` format read by :func:`load_label_file`.

    Args:
        path (str): Output ``.npy`` path.
        labels (dict[str, Sequence[int]]): Image name -> foreground indices.
        num_classes (int): Number of foreground classes ``C``.
    """
    table = {name: multi_hot(idx, num_classes) for name, idx in labels.items()}
    with open(path, 'wb') as f:
        np.save(f, table, allow_pickle=True)


def voc_colormap(num: int) -> List[List[int]]:
    """The PASCAL VOC colour map (bits of the index spread over R, G, B), ``num`` colours.

    Args:
        num (int): Number of colours (at most 256).

    Returns:
        list[list[int]]: ``num`` RGB triplets; index 0 is black.
    """
    palette = []
    for idx in range(num):
        rgb = [0, 0, 0]
        cid = idx
        for shift in range(7, -1, -1):
            for ch in range(3):
                rgb[ch] |= ((cid >> ch) & 1) << shift
            cid >>= 3
        palette.append(rgb)
    return palette


def as_label_list(labels: Union[Sequence[int], np.ndarray]) -> List[int]:
    """Normalise labels given as a list/array of indices to a sorted list of ints."""
    return sorted({int(i) for i in np.asarray(labels).ravel()})


def unwrap_dataset_cfg(cfg: dict) -> dict:
    """The innermost dataset config of a dataloader or dataset config.

    Follows the ``dataset`` key of a dataloader and of ``RepeatDataset``-like wrappers. The
    returned dict is the config's own (changing it changes the config).

    Args:
        cfg (dict): A dataloader config (``dataset=...``) or a dataset config.

    Returns:
        dict: The dataset config without a ``dataset`` key.
    """
    while isinstance(cfg, dict) and 'dataset' in cfg:
        cfg = cfg['dataset']
    return cfg
