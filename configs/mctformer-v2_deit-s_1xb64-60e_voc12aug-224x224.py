# MCTformer (CVPR'22, "V2"): the MCTformer+ network with GAP pooling of PatchCAM and no CCT loss,
# trained at 224 px as the public MCTformer code. Seeds on VOC train: 61.7 mIoU in the paper.
_base_ = ['./mctformer-plus_deit-s_1xb64-60e_voc12aug-448x448.py']
crop_size = 224
model = dict(
    backbone=dict(img_size=224),
    cam_head=dict(pool='gap'),
    cct_loss=None)
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadCheckedImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=crop_size, interpolation='bicubic',
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='mmpretrain.RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackWSSSInputs'),
]))
