# Beyond the paper: MCTformer+ from DINOv2 ViT-S/14 weights on VOC 2012 aug (448 px crops = 32 x 32
# tokens). The model follows the authors' MCTformer+ code (configs/_base_/models/mctformer-plus_deit-s.py);
# the schedule is the 60-epoch one of the paper-literal variant.
_base_ = [
    '../_base_/models/mctformer-plus_dinov2-s.py',
    '../_base_/datasets/pascal_voc12_aug_wsss.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_60e_adamw_cosine.py',
]
model = dict(backbone=dict(img_size=448))
