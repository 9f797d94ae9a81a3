"""Reference pipelines for WSSS training and seed inference.

Configs can copy the literal lists (``num_classes=20`` for VOC)::

    train_pipeline = [
        dict(type='LoadCheckedImageFromFile'),            # labels come from the data info
        dict(type='mmpretrain.RandomResizedCrop', scale=224),
        dict(type='RandomFlip', prob=0.5),
        dict(type='mmpretrain.ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
        dict(type='PackWSSSInputs', num_classes=20),
    ]
    test_pipeline = [
        dict(type='LoadCheckedImageFromFile'),
        dict(type='LoadAnnotations'),                     # GT mask, original size (no resize)
        dict(type='PackWSSSInputs', num_classes=20),
    ]

This is DeiT's crop/flip/colour augmentation with mmpretrain's transforms (the ``mmpretrain.``
prefix resolves through mmseg's ``TRANSFORMS`` under ``default_scope='mmseg'`` and imports
mmpretrain's transforms on first use); normalisation is left to the model's
``SegDataPreProcessor``. ``LoadCheckedImageFromFile`` may be replaced by ``LoadImageFromFile``.
"""
from typing import List


def wsss_train_pipeline(num_classes: int,
                        crop_size: int = 224,
                        crop_ratio_range=(0.08, 1.0),
                        flip_prob: float = 0.5,
                        color_jitter: float = 0.4) -> List[dict]:
    """The training pipeline above as config dicts.

    Args:
        num_classes (int): Number of foreground classes ``C``.
        crop_size (int): Side of the random resized crop. Default: 224.
        crop_ratio_range (tuple[float, float]): Crop area range of the image area.
            Default: ``(0.08, 1.0)``.
        flip_prob (float): Horizontal flip probability. Default: 0.5.
        color_jitter (float): Brightness, contrast and saturation jitter. Default: 0.4.

    Returns:
        list[dict]: Transform configs.
    """
    return [
        dict(type='LoadCheckedImageFromFile'),
        dict(type='mmpretrain.RandomResizedCrop', scale=crop_size,
             crop_ratio_range=tuple(crop_ratio_range)),
        dict(type='RandomFlip', prob=flip_prob),
        dict(type='mmpretrain.ColorJitter', brightness=color_jitter, contrast=color_jitter,
             saturation=color_jitter),
        dict(type='PackWSSSInputs', num_classes=num_classes),
    ]


def wsss_test_pipeline(num_classes: int, with_mask: bool = True) -> List[dict]:
    """The test pipeline above as config dicts (original image size, GT mask when available).

    Args:
        num_classes (int): Number of foreground classes ``C``.
        with_mask (bool): Load the GT mask (``LoadAnnotations``). Default: True.

    Returns:
        list[dict]: Transform configs.
    """
    pipeline = [dict(type='LoadCheckedImageFromFile')]
    if with_mask:
        pipeline.append(dict(type='LoadAnnotations'))
    pipeline.append(dict(type='PackWSSSInputs', num_classes=num_classes))
    return pipeline
