# MCTformer+ on MS COCO 2014 (80 classes), paper-literal variant (model:
# configs/_base_/models/mctformer-plus_deit-s_paper.py); the authors' recipe is
# configs/mctformer/mctformer-plus_deit-s_1xb32-45e_coco2014-448x448.py. Paper: 42.8 seed mIoU on COCO train.
_base_ = [
    '../_base_/models/mctformer-plus_deit-s_paper.py',
    '../_base_/datasets/coco2014_wsss.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_60e_adamw_cosine.py',
]
num_classes = 80
model = dict(
    backbone=dict(img_size=448, num_classes=num_classes),
    cls_head=dict(num_classes=num_classes),
    cam_head=dict(num_classes=num_classes))
