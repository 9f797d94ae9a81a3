# A tiny AffinityNet on the demo layout for tests: data_root and maps_dir are set by the test,
# weights are random (no init_cfg), 32 px images, patch 8, 8 x 8 affinity grid.
_base_ = ['../../configs/affinity/affinitynet_dinov2-s_1xb16-1e_demo-112x112.py']
model = dict(
    data_preprocessor=dict(size_divisor=8),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64,
                  patch_size=8),
        img_size=32, init_cfg=None),
    in_channels=(32, ),
    channels=(16, ),
    embed_dims=16,
    image_branch=(8, 16),
    radius=3)
train_dataloader = dict(batch_size=4, num_workers=0)
test_dataloader = dict(batch_size=4, num_workers=0)
default_hooks = dict(logger=dict(interval=1))
