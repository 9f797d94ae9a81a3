# MS COCO 2014 for WSSS (80 foreground classes; masks as PNG, 0 = background, 255 = ignore).
# Layout: data/coco2014/{JPEGImages, SegmentationClass, ImageSets/{train,val}.txt}.
# Everything else (DeiT augmentation, loaders, metrics) is VOC's.
_base_ = ['./voc12aug_wsss.py']
dataset_type = 'COCOWSSSDataset'
data_root = 'data/coco2014'
num_classes = 80
crop_size = 448
_train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=crop_size, interpolation='bicubic',
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='mmpretrain.RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackWSSSInputs', num_classes=num_classes),
]
_test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackWSSSInputs', num_classes=num_classes),
]
_prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
train_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='ImageSets/train.txt',
    data_prefix=_prefix, pipeline=_train_pipeline))
# seed mIoU on a 5,000-image subset of train keeps validation affordable; list it in train_5k.txt
# (the paper's seed numbers use the whole train set: tools/eval_seeds.py --split train)
val_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='ImageSets/train_5k.txt',
    data_prefix=_prefix, pipeline=_test_pipeline))
test_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='ImageSets/val.txt',
    data_prefix=_prefix, pipeline=_test_pipeline))
pseudo_label_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root, ann_file='ImageSets/train.txt',
    data_prefix=_prefix, pipeline=_test_pipeline))
