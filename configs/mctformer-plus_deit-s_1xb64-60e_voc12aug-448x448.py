# MCTformer+ on PASCAL VOC 2012 aug, the paper's recipe: DeiT-S (ImageNet), 448 px crops, batch 64,
# AdamW + cosine with 5 warm-up epochs, 60 epochs. Seeds on VOC train: 68.8 mIoU in the paper.
_base_ = [
    './_base_/models/mctformer_plus_deit-s.py',
    './_base_/datasets/voc12aug_wsss.py',
    './_base_/default_runtime.py',
    './_base_/schedules/schedule_60e_adamw_cosine.py',
]
model = dict(backbone=dict(img_size=448))
