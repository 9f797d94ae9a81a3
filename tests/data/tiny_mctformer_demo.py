# A tiny MCTformer+ on the demo layout for tool tests: data_root is set by the test
# (--cfg-options), weights are random (no init_cfg), 32 px images, patch 8.
_base_ = ['../../configs/mctformer/mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py']
model = dict(
    data_preprocessor=dict(size_divisor=8),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64,
                  patch_size=8),
        img_size=32, init_cfg=None),
    cls_head=dict(in_channels=32),
    cam_head=dict(in_channels=32),
    cct_loss=dict(layers=2),
    test_cfg=dict(top_k=2))
_train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=32, crop_ratio_range=(0.5, 1.0),
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=_train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
pseudo_label_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
max_epochs = 3
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0, end=max_epochs,
         T_max=max_epochs, convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(max_keep_ckpts=3),
                     visualization=dict(type='SegVisualizationHook', draw=False))
