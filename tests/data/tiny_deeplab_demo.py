# The demo DeepLab recipe shrunk for tests: 32 px crops, 4 iterations, the context path shaped as
# the tiny stage 1 (tests/data/tiny_mctformer_demo.py), loaded by the pipeline from stage 1's
# checkpoint (init_from_stage1, as the demo's). data_root is set by the test.
_base_ = [
    '../../configs/deeplabv3plus/'
    'deeplabv3plus_vit-s14-stage1-frozen_1xb16-1500it_demo-pseudo-112x112.py'
]
crop_size = (32, 32)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        context_path=dict(
            arch=dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2,
                      feedforward_channels=64, patch_size=8),
            img_size=32, init_cfg=None),
        spatial_path=dict(stem_channels=8, base_channels=8)),
    decode_head=dict(in_channels=32, channels=8, c1_in_channels=8, c1_channels=8))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PackSegInputs'),
]
max_iters = 4
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=max_iters))
