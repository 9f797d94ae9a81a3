# PASCAL VOC 2012 + SBD ("aug") for weakly supervised training: image-level labels only.
# Layout (as MMSeg's pascal_voc12_aug.py): data/VOCdevkit/VOC2012/{JPEGImages, SegmentationClassAug,
# ImageSets/Segmentation/{train_aug,train,val}.txt}. Labels are derived from the masks; pass
# `label_file='cls_labels.npy'` to the dataset to train without masks.
dataset_type = 'VOCWSSSDataset'
data_root = 'data/VOCdevkit/VOC2012'
crop_size = 448
# DeiT's training augmentation (timm create_transform defaults of the reference code): random resized
# crop (bicubic), horizontal flip, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25 (pixel
# mode). timm skips colour jitter when RandAugment is on; configs/_base_/datasets/demo_wsss.py shows
# the jitter variant.
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=crop_size, interpolation='bicubic',
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # built in mmpretrain's scope: its policies (AutoContrast, ...) are looked up in the current one
    dict(type='RandAugment', _scope_='mmpretrain', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    # code: timm RandomErasing(0.25, mode='pixel'): unclipped N(0, 1) in normalised units, boxes
    # that do not fit retried (tests/test_datasets/test_random_erasing.py); BGR mean / std
    dict(type='TimmRandomErasing', erase_prob=0.25, min_area=0.02, max_area=1 / 3,
         min_aspect=0.3, mean=[103.53, 116.28, 123.675], std=[57.375, 57.12, 58.395]),
    dict(type='PackWSSSInputs'),
]
# PackWSSSInputs takes the class count from the dataset
# maps are computed at the original image size (the model resizes per scale itself). MMSeg's own
# LoadImageFromFile, and labels optional at test time, so that mmseg.apis.inference_model and
# MMSegInferencer can run this pipeline on unlabelled images (the model then keeps the classes
# whose score exceeds test_cfg.score_thr); the WSSS datasets always give labels.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackWSSSInputs', allow_missing_labels=True),
]
# one dataset definition; the four loaders differ in split, pipeline and loader settings
test_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='ImageSets/Segmentation/val.txt',
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    pipeline=test_pipeline)
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=test_dataset)
train_dataloader = dict(
    test_dataloader,
    batch_size=64,
    num_workers=8,
    # fresh workers each epoch, seeded from the epoch (ReproducibilityHook): a resumed run repeats
    # the augmentations of the uninterrupted one (persistent workers carry their random state)
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(test_dataset, ann_file='ImageSets/Segmentation/train_aug.txt',
                 pipeline=train_pipeline))
# seeds are measured on VOC train (1,464 images with masks), as the paper's seed mIoU
val_dataloader = dict(
    test_dataloader, dataset=dict(test_dataset, ann_file='ImageSets/Segmentation/train.txt'))
# the split the PseudoLabelHook / tools/make_pseudo_labels.py label for the DeepLab stage
pseudo_label_dataloader = dict(
    batch_size=1,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(test_dataset, ann_file='ImageSets/Segmentation/train_aug.txt'))
val_evaluator = [
    dict(type='MultiLabelMAPMetric'),
    dict(type='SeedMetric'),
]
test_evaluator = val_evaluator
