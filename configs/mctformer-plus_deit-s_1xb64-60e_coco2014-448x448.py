# MCTformer+ on MS COCO 2014 (80 classes). Seeds on COCO train: 42.8 mIoU in the paper.
_base_ = [
    './_base_/models/mctformer_plus_deit-s.py',
    './_base_/datasets/coco2014_wsss.py',
    './_base_/default_runtime.py',
    './_base_/schedules/schedule_60e_adamw_cosine.py',
]
num_classes = 80
model = dict(
    backbone=dict(img_size=448, num_classes=num_classes),
    cls_head=dict(num_classes=num_classes),
    cam_head=dict(num_classes=num_classes))
