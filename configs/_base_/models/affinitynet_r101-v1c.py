# AffinityNet (PSA, Ahn & Kwak CVPR 2018) on MMSeg's ResNet-101 V1c (the authors use ResNet-38):
# dilated to output stride 8, features of stages 2-4 -> 1x1 convs to 64 / 128 / 256 channels ->
# 448-d affinity features; pairs within radius 5 on the stride-8 grid.
# ImageNet weights as a local file (no download at run time), as for the DeepLab stage.
pretrained = 'checkpoints/resnet101_v1c-e67eebb6.pth'
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='AffinityNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,  # batch 8: BN statistics stay those of ImageNet, as PSA
        style='pytorch',
        contract_dilation=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    in_index=(0, 1, 2),
    in_channels=(512, 1024, 2048),
    channels=(64, 128, 256),
    embed_dims=448,
    out_stride=8,
    radius=5,
    loss_aff=dict(type='AffinityLoss'),
    # random walk of PSA (run_psa.sh of MCTformer): beta 8, logt 6; background = seed threshold
    test_cfg=dict(bg_threshold=0.39, beta=8, logt=6, random_walk=True))
