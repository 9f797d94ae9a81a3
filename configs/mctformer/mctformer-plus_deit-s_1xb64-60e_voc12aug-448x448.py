# MCTformer+ on PASCAL VOC 2012 aug, paper-literal where the paper speaks and the authors' code is
# different (model: configs/_base_/models/mctformer-plus_deit-s_paper.py). The authors' recipe is
# configs/mctformer/mctformer-plus_deit-s_1xb32-45e_voc12aug-448x448.py (the entry point mctformer_plus_voc.py).
# Schedule: batch 64, 60 epochs, AdamW + cosine with 5 warm-up epochs (MCTformer V2's values; the
# MCTformer+ paper gives none).
_base_ = [
    '../_base_/models/mctformer-plus_deit-s_paper.py',
    '../_base_/datasets/pascal_voc12_aug_wsss.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_60e_adamw_cosine.py',
]
model = dict(backbone=dict(img_size=448))
