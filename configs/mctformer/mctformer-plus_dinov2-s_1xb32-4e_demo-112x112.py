# The small-data recipe at a stated budget of 4 epochs (252 AdamW steps on 2,000 images): the
# demo's stage-1 recipe (112 px; class tokens at 300x and the PatchCAM head at 30x of 1e-4) with
# the pretrained backbone at 0.3x (3e-5) and the cosine stretched over twice the steps. For
# datasets of the demo layout on which the 2-epoch demo budget is not enough: objects a token or
# two wide (`shapes-small`), ten classes (`shapes-10`). At 1e-4 the backbone's updates keep the
# PatchCAM head and the class tokens at the label prior on `shapes-10` for 3-8 epochs; frozen,
# the class tokens do not learn. The linear warm-up spans 40 steps (the 2-epoch config: 10): over
# 10 steps one seed of `shapes` stays at the label prior for all 4 epochs. Per-set numbers across
# seeds: benchmarks/results/small_data/README.md and docs/en/user_guides/own_dataset.md.
_base_ = ['./mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py']
max_epochs = 4
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.3))))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0, end=max_epochs,
         T_max=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
