"""MS COCO 2014 instance annotations -> the layout of ``COCOWSSSDataset``.

``instances_{train,val}2014.json`` become, under ``out_dir``:

- ``SegmentationClass/<image stem>.png``: uint8 masks, 0 background, ``k + 1`` for the k-th COCO
  category in increasing category id (the 80 classes of ``COCO_CLASSES``: the 91 ids of the COCO
  files have 11 gaps), 255 ignore;
- ``ImageSets/{train,val}.txt``: the images with at least one annotation (82,081 of train2014 and
  40,137 of val2014, the split sizes of the WSSS literature), and ``ImageSets/train_5k.txt``, a
  seeded random subset of train that the stage-1 configs validate on;
- ``cls_labels.npy``: image-level labels of every listed image (``{stem: (80,) multi-hot}``, the
  format of ``label_file``), from all its annotations, crowd ones included;
- ``JPEGImages/<file name>``: symbolic links to the COCO images, when their folder is given.

Mask rule (0..80 + 255, the ignore index of MMSeg's datasets):

- a pixel of one or more non-crowd instances of one class takes that class;
- a pixel of non-crowd instances of two or more classes is 255 (the drawing order would decide it);
- a pixel of a crowd region (``iscrowd=1``) that no non-crowd instance covers is 255 (it holds
  objects of that class that are not delineated);
- every other pixel is 0.

Polygons and RLEs are rasterised by ``pycocotools`` (the COCO API; ``pip install
pycocotools==2.0.11``, the ``coco`` extra of this package). Every file is written atomically and
existing masks are kept, so an interrupted conversion resumes.
"""
import json
import os
import os.path as osp
from multiprocessing import Pool
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ...utils.io import atomic_output, atomic_write_text
from ..coco import COCO_CLASSES
from ..utils import load_label_file, save_label_file

IGNORE_INDEX = 255
SPLITS = ('train', 'val')


def _mask_api():
    try:
        from pycocotools import mask as mask_api
    except ImportError as err:
        raise ImportError('the COCO converter needs pycocotools: pip install pycocotools==2.0.11 '
                          '(or pip install -e ".[coco]")') from err
    return mask_api


def category_to_label(categories: Sequence[dict], source: str = 'categories') -> Dict[int, int]:
    """Map COCO category ids (1..90, with gaps) to mask values 1..80.

    Args:
        categories (Sequence[dict]): The ``categories`` of an instances file (``id``, ``name``).
        source (str): Name of the file, for the error messages. Default: ``'categories'``.

    Returns:
        dict[int, int]: Category id -> mask value (k + 1 for the k-th id in increasing order).

    Raises:
        ValueError: When the categories are not the 80 COCO classes of ``COCO_CLASSES``.
    """
    cats = sorted(categories, key=lambda c: c['id'])
    names = tuple(c['name'] for c in cats)
    if names != COCO_CLASSES:
        diff = [(i, a, b) for i, (a, b) in enumerate(zip(names, COCO_CLASSES)) if a != b][:3]
        raise ValueError(f'{source}: expected the 80 COCO categories of COCO_CLASSES in '
                         f'increasing id, got {len(names)} categories (first differences '
                         f'(index, file, expected): {diff})')
    return {c['id']: k + 1 for k, c in enumerate(cats)}


def _decode(mask_api, segmentation, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of one annotation (polygons, uncompressed or compressed RLE)."""
    if isinstance(segmentation, list):  # polygons
        rle = mask_api.merge(mask_api.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get('counts'), list):  # uncompressed RLE (crowd)
        rle = mask_api.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    mask = mask_api.decode(rle)
    return (mask[..., 0] if mask.ndim == 3 else mask).astype(bool)


def instances_to_mask(annotations: Sequence[dict], height: int, width: int,
                      cat_to_label: Dict[int, int]) -> Tuple[np.ndarray, List[int]]:
    """Semantic mask and image-level labels of one image (the rule of the module docstring).

    Args:
        annotations (Sequence[dict]): The image's annotations (``segmentation``, ``category_id``,
            ``iscrowd``).
        height (int): Image height H.
        width (int): Image width W.
        cat_to_label (dict[int, int]): From :func:`category_to_label`.

    Returns:
        tuple: ``mask`` (H, W) uint8 with values in 0..80 and 255, and the sorted foreground
        indices 0..79 of the image's classes (crowd annotations included).
    """
    mask_api = _mask_api()
    label = np.zeros((height, width), np.uint8)
    conflict = np.zeros((height, width), bool)
    crowd = np.zeros((height, width), bool)
    classes = set()
    for ann in annotations:
        value = cat_to_label[ann['category_id']]
        classes.add(value - 1)
        region = _decode(mask_api, ann['segmentation'], height, width)
        if ann.get('iscrowd', 0):
            crowd |= region
            continue
        conflict |= region & (label != 0) & (label != value)
        label[region & (label == 0)] = value
    label[conflict] = IGNORE_INDEX
    label[crowd & (label == 0)] = IGNORE_INDEX
    return label, sorted(classes)


def _write_mask(job) -> Tuple[str, List[int]]:
    stem, height, width, anns, cat_to_label, out_path, overwrite = job
    if not overwrite and osp.isfile(out_path):
        # the labels do not depend on the raster: no need to decode again
        return stem, sorted({cat_to_label[a['category_id']] - 1 for a in anns})
    mask, classes = instances_to_mask(anns, height, width, cat_to_label)
    with atomic_output(out_path, suffix='.png') as tmp:
        Image.fromarray(mask).save(tmp, format='PNG')
    return stem, classes


def load_instances(ann_file: str) -> dict:
    """Read an instances file and check the keys the converter needs."""
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'COCO instances file {ann_file} does not exist (expected '
                                'annotations/instances_{train,val}2014.json)')
    with open(ann_file) as f:
        data = json.load(f)
    missing = [k for k in ('images', 'annotations', 'categories') if k not in data]
    if missing:
        raise ValueError(f'{ann_file}: missing keys {missing}; expected a COCO instances file')
    return data


def convert_instances(ann_file: str, out_dir: str, split: str, img_dir: Optional[str] = None,
                      nproc: int = 1, overwrite: bool = False) -> Dict[str, List[int]]:
    """Convert one instances file; write its masks, split file and image links.

    Args:
        ann_file (str): ``instances_{split}2014.json``.
        out_dir (str): Output data root.
        split (str): Name of the split file written (``ImageSets/{split}.txt``).
        img_dir (str, optional): Folder of the split's images (``train2014/``); linked into
            ``out_dir/JPEGImages`` when given. Default: None.
        nproc (int): Worker processes. Default: 1.
        overwrite (bool): Rewrite existing masks. Default: False (resume).

    Returns:
        dict[str, list[int]]: Image stem -> foreground indices, for the listed images.
    """
    data = load_instances(ann_file)
    cat_to_label = category_to_label(data['categories'], ann_file)
    by_image: Dict[int, List[dict]] = {}
    for ann in data['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    seg_dir = osp.join(out_dir, 'SegmentationClass')
    os.makedirs(seg_dir, exist_ok=True)
    jobs = []
    for img in sorted(data['images'], key=lambda i: i['file_name']):
        anns = by_image.get(img['id'])
        if not anns:
            continue
        stem = osp.splitext(img['file_name'])[0]
        jobs.append((stem, img['height'], img['width'], anns, cat_to_label,
                     osp.join(seg_dir, stem + '.png'), overwrite))
        if img_dir is not None:
            _link(osp.join(img_dir, img['file_name']),
                  osp.join(out_dir, 'JPEGImages', img['file_name']))
    if nproc > 1:
        with Pool(nproc) as pool:
            results = pool.map(_write_mask, jobs, chunksize=64)
    else:
        results = [_write_mask(job) for job in jobs]
    labels = dict(results)
    atomic_write_text(osp.join(out_dir, 'ImageSets', f'{split}.txt'),
                      ''.join(f'{stem}\n' for stem, _ in results))
    return labels


def _link(src: str, dst: str) -> None:
    if not osp.isfile(src):
        raise FileNotFoundError(f'image {src} listed in the instances file does not exist')
    if osp.lexists(dst):
        return
    os.makedirs(osp.dirname(dst), exist_ok=True)
    os.symlink(osp.abspath(src), dst)


def convert_coco2014(coco_root: str, out_dir: str, splits: Sequence[str] = SPLITS,
                     link_images: bool = True, nproc: int = 1, subset_size: int = 5000,
                     seed: int = 0, overwrite: bool = False) -> Dict[str, int]:
    """Convert ``coco_root/annotations/instances_{split}2014.json`` for every split.

    Args:
        coco_root (str): Folder with ``annotations/`` (and ``train2014/``, ``val2014/``).
        out_dir (str): Output data root (``data/coco2014`` in the configs).
        splits (Sequence[str]): Splits to convert. Default: ``('train', 'val')``.
        link_images (bool): Link ``{split}2014/*.jpg`` into ``out_dir/JPEGImages``. Default: True.
        nproc (int): Worker processes. Default: 1.
        subset_size (int): Size of ``ImageSets/train_5k.txt`` (drawn from train with ``seed``);
            0 writes none. Default: 5000.
        seed (int): Seed of the subset. Default: 0.
        overwrite (bool): Rewrite existing masks. Default: False.

    Returns:
        dict[str, int]: Number of listed images per split.
    """
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f'splits {unknown} unknown; expected a subset of {SPLITS}')
    labels: Dict[str, List[int]] = {}
    counts = {}
    for split in splits:
        ann_file = osp.join(coco_root, 'annotations', f'instances_{split}2014.json')
        img_dir = osp.join(coco_root, f'{split}2014') if link_images else None
        split_labels = convert_instances(ann_file, out_dir, split, img_dir, nproc, overwrite)
        labels.update(split_labels)
        counts[split] = len(split_labels)
        if split == 'train' and subset_size:
            names = sorted(split_labels)
            rng = np.random.default_rng(seed)
            pick = sorted(rng.choice(len(names), min(subset_size, len(names)), replace=False))
            atomic_write_text(osp.join(out_dir, 'ImageSets', 'train_5k.txt'),
                              ''.join(f'{names[i]}\n' for i in pick))
    label_file = osp.join(out_dir, 'cls_labels.npy')
    if osp.isfile(label_file):  # the other split of an earlier run stays listed
        labels = {**load_label_file(label_file, len(COCO_CLASSES)), **labels}
    with atomic_output(label_file, suffix='.npy') as tmp:
        save_label_file(tmp, labels, len(COCO_CLASSES))
    return counts
