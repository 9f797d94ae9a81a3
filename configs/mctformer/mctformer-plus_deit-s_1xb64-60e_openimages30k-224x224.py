# MCTformer+ for weakly supervised object localisation on OpenImages30k (100 classes), evaluated in the
# protocol of Choe et al. (CVPR 2020): PxAP 72.8 and pIoU 55.6 in the paper (test split).
# The VOC recipe (DeiT-S, AdamW + cosine, 5 warm-up epochs, 60 epochs, GWRP + CCT) at the protocol's
# 224 px, trained as single-label classification (one class per image). The paper does not state its
# OpenImages schedule; wsolevaluation's own baselines train 10 epochs (train_cfg.max_epochs=10 with
# param_scheduler.1.end=10 param_scheduler.1.T_max=5).
_base_ = [
    '../_base_/models/mctformer-plus_deit-s.py',
    '../_base_/datasets/openimages30k_wsol.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_60e_adamw_cosine.py',
]
num_classes = 100
model = dict(
    backbone=dict(img_size=224, num_classes=num_classes),
    cls_head=dict(num_classes=num_classes),
    cam_head=dict(num_classes=num_classes))
# the best checkpoint by PxAP on val (the protocol's model-selection split)
default_hooks = dict(checkpoint=dict(save_best='wsol/PxAP', rule='greater'))
