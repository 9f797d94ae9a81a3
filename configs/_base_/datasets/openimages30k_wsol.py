# OpenImages30k in the WSOL protocol of Choe et al. ("Evaluating Weakly Supervised Object
# Localization Methods Right", CVPR 2020; their `wsolevaluation` metadata and masks): 100 classes,
# one per image; 29,819 train images (image-level labels only), 2,500 val ("train-fullsup", for
# model selection) and 5,000 test images with instance masks and ignore maps.
# Layout: data/openimages30k/OpenImages/{train,val,test}/<class>/<id>.jpg (+ <id>_m<class>_<hash>.png
# and <id>_ignore.png on val/test) and data/openimages30k/metadata/OpenImages/<split>/
# {image_ids,class_labels,localization}.txt. Classes are read from the metadata (class folders).
dataset_type = 'OpenImagesWSOLDataset'
data_root = 'data/openimages30k'
crop_size = 224
# the VOC recipe's DeiT augmentation at the protocol's 224 px
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=crop_size, interpolation='bicubic',
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # built in mmpretrain's scope: its policies (AutoContrast, ...) are looked up in the current one
    dict(type='RandAugment', _scope_='mmpretrain', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='mmpretrain.RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackWSSSInputs'),
]
# The protocol's test: the image resized to 224 x 224, every mask PNG resized (nearest) to 224 x 224.
# The model returns its maps at the original size; PxAPMetric brings them back to 224 x 224.
test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
    dict(type='LoadWSOLAnnotations', scale=(crop_size, crop_size)),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline))
# PxAP / pIoU of the GT class's map (cam_curve_interval 0.001, 224 x 224), and the class-token mAP
val_evaluator = [
    dict(type='MultiLabelMAPMetric'),
    dict(type='PxAPMetric', cam_curve_interval=0.001, size=(crop_size, crop_size)),
]
test_evaluator = val_evaluator
