# Final stage of the README demo: MMSeg's DeepLabV3+ (ResNet-18 V1c, output stride 16, from
# scratch: no ImageNet weights ship offline) on the pseudo-masks of the demo train split, validated
# on the GT val masks. Sized for 2 CPU cores.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_mctformer'], allow_failed_imports=False)
num_classes = 7  # background + 6 demo classes
crop_size = (112, 112)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    # output stride 16 (MMSeg's d8 default dilates the last two stages): half the CPU time
    backbone=dict(depth=18, norm_cfg=norm_cfg, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    decode_head=dict(num_classes=num_classes, c1_in_channels=64, c1_channels=12, in_channels=512,
                     channels=128, dilations=(1, 6, 12, 18), norm_cfg=norm_cfg),
    auxiliary_head=dict(num_classes=num_classes, in_channels=256, channels=64, norm_cfg=norm_cfg))
data_root = 'data/demo'
# an absolute path (tools/run_pipeline.py sets it); relative paths are joined to data_root
pseudo_label_dir = '/path/to/work_dirs/demo/pseudo_labels'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(112, 112), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=16, num_workers=2,
    dataset=dict(
        _delete_=True, type='DemoWSSSDataset', data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_label_dir),
        ann_file='ImageSets/Segmentation/train_aug.txt', pipeline=train_pipeline,
        skip_empty=False))
val_dataloader = dict(
    batch_size=8, num_workers=2,
    dataset=dict(
        _delete_=True, type='DemoWSSSDataset', data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        ann_file='ImageSets/Segmentation/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
max_iters = 400
optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=1),
    sampler_seed=dict(type='ReproducibleSeedHook'))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
