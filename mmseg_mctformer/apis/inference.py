"""Localisation maps and seed of one image, in the style of ``mmseg.apis.inference_model``.

``mmseg.apis.init_model``, ``inference_model`` and ``MMSegInferencer`` work on the stage-1
configs as on any MMSeg config (``pred_sem_seg`` is the seed). :func:`inference_seeds` adds what
they cannot: image-level labels for the seed (the paper's setting) and the maps themselves::

    from mmseg.apis import init_model
    from mmseg_mctformer.apis import inference_seeds

    model = init_model('configs/mctformer_plus_demo.py', 'epoch_2.pth', 'cpu')
    out = inference_seeds(model, 'demo.jpg', labels=[0, 3])  # or labels=None: predicted
    out['maps'], out['seed'], out['kept_classes']
"""
import copy
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from torch import nn

from ..models.segmentors import MCTformer


def inference_seeds(model: nn.Module, img: Union[str, np.ndarray],
                    labels: Optional[Sequence[int]] = None) -> dict:
    """Localisation maps and seed mask of one image.

    The image goes through the config's ``test_pipeline`` (without ``LoadAnnotations``) and
    ``MCTformer.predict`` (its ``test_cfg``: scales, flip, map type, threshold).

    Args:
        model (nn.Module): An ``MCTformer`` from ``mmseg.apis.init_model`` (it carries ``cfg``).
        img (str | np.ndarray): Image file, or a BGR image (H, W, 3) as ``mmcv.imread`` gives.
        labels (Sequence[int], optional): Foreground class indices (0..C-1) present in the
            image; their maps are kept. Default: None, which keeps the classes whose predicted
            score exceeds ``test_cfg.score_thr``.

    Raises:
        TypeError: When ``model`` is not an ``MCTformer``.

    Returns:
        dict: ``maps`` (C, H, W) float in [0, 1] (0 for classes not kept), ``seed`` (H, W) long
        (0 = background, c + 1 = class c), ``kept_classes`` (C,) bool, ``class_scores`` (C,)
        float (sigmoid scores) and ``bg_threshold`` (float), at the image's size.
    """
    if not isinstance(model, MCTformer):
        raise TypeError(f'inference_seeds: expected an MCTformer (a stage-1 config), got '
                        f'{type(model).__name__}; use mmseg.apis.inference_model for a '
                        'segmentor such as DeepLab')
    cfg = getattr(model, 'cfg', None)
    if cfg is None or 'test_pipeline' not in cfg:
        raise ValueError('inference_seeds: the model has no cfg.test_pipeline; build it with '
                         'mmseg.apis.init_model(config, checkpoint)')
    pipeline = [t for t in copy.deepcopy(cfg.test_pipeline)
                if t['type'] not in ('LoadAnnotations', 'LoadDepthAnnotation')]
    if isinstance(img, np.ndarray):
        pipeline[0] = dict(type='LoadImageFromNDArray')
        data = dict(img=img)
    else:
        data = dict(img_path=img)
    if labels is not None:
        data.update(gt_class_labels=[int(c) for c in labels], num_classes=model.num_classes)
    data = Compose(pipeline)(data)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([data]))[0]
    finally:
        model.train(was_training)
    return dict(maps=sample.seg_logits.data[1:], seed=sample.pred_sem_seg.data[0],
                kept_classes=sample.kept_classes, class_scores=sample.pred_class_scores,
                bg_threshold=sample.bg_threshold)
