# MCTformer+ (TPAMI): DeiT-S with one class token per foreground class, class-token head (mean over D),
# PatchCAM head pooled by GWRP (decay 0.996), contrastive class-token loss on all layers.
# MCTformer (CVPR'22, "V2") is the same model with `cam_head.pool='gap'` and `cct_loss=None`.
# ImageNet DeiT-S converted to our layout (no download at run time):
#   python tools/convert_weights.py deit_small_patch16_224-cd65a155.pth checkpoints/deit-small_in1k.pth
pretrained = 'checkpoints/deit-small_in1k.pth'
data_preprocessor = dict(
    type='WSSSDataPreProcessor',  # MMSeg's SegDataPreProcessor, errors name the images
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=16)
model = dict(
    type='MCTformer',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='MultiClassTokenViT',
        arch='deit-small',
        num_classes=20,
        img_size=224,
        drop_path_rate=0.1,
        cls_token_init='pretrained',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    cls_head=dict(type='ClassTokenPoolHead', num_classes=20, in_channels=384, pool='avg'),
    cam_head=dict(type='PatchCAMHead', num_classes=20, in_channels=384, kernel_size=3,
                  pool='gwrp', gwrp_decay=0.996),
    cct_loss=dict(type='ContrastiveClassTokenLoss', layers='all'),
    train_cfg=dict(),
    test_cfg=dict(
        scales=(1.0, 0.5, 1.5, 2.0),
        flip=True,
        map_type='fused_affinity',
        top_k=3,
        use_gt_labels=True,
        bg_threshold=0.45))
