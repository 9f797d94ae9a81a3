# The embedded demo dataset (tools/make_demo_data.py data/demo): Fashion-MNIST objects on varied
# backgrounds, 6 foreground classes, 112 x 112 images, VOC folder layout.
_base_ = ['./pascal_voc12_aug_wsss.py']
dataset_type = 'DemoWSSSDataset'
data_root = 'data/demo'
crop_size = 112
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=crop_size, crop_ratio_range=(0.5, 1.0),
         interpolation='bicubic', backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [  # as VOC's: usable by mmseg.apis.inference_model and MMSegInferencer
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackWSSSInputs', allow_missing_labels=True),
]
_prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')
train_dataloader = dict(
    batch_size=32, num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=_prefix,
                 ann_file='ImageSets/Segmentation/train.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=_prefix,
                 ann_file='ImageSets/Segmentation/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
pseudo_label_dataloader = dict(
    batch_size=8, num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=_prefix,
                 ann_file='ImageSets/Segmentation/train.txt', pipeline=test_pipeline))
