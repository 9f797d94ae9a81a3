# The demo's stage-1 recipe for small objects: the 112 px images are upsampled to 168 px in
# training (the random-resized crop's output size) and at test time (`test_cfg.scales=(1.5, )`,
# relative to each image), so an object 15-30 % of the side spans 2-4 ViT-S/14 tokens instead of
# 1-2.5. Same 126 AdamW steps and learning rates as the 112 px recipe; a step costs about twice
# as much. Measured on the generated `shapes-small` set (2,000 / 300 images): class mAP 46.7 (base
# rate 36.0), seed mIoU 35.0 at threshold 0.60 with seed 0 (the 112 px recipe: 42.5 / 13.6 at
# 0.85), 64.2 / 59.8 at 0.70 with seed 2, but 40.6 / 14.0 at 0.95 with seed 1: at this budget
# small objects learn in some runs only, and the stage-1 check stops the others. The 112 px
# recipe with the same three seeds: 13.6 / 51.8 / 28.7, so at this budget the larger input is not
# shown to help (benchmarks/results/small_data/README.md).
_base_ = ['./mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py']
crop_size = 168
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=crop_size, crop_ratio_range=(0.5, 1.0),
         interpolation='bicubic', backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
model = dict(test_cfg=dict(scales=(1.5, )))
