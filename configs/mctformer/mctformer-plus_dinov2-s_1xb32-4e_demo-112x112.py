# The small-data recipe at a stated budget of 4 epochs (252 AdamW steps on 2,000 images): the
# demo's stage-1 recipe (same learning rates and multipliers, 112 px) with the cosine stretched
# over twice the steps. For datasets of the demo layout on which the 2-epoch demo budget is not
# enough: objects a token or two wide (`shapes-small`: each of three seeds learns). Ten classes
# (`shapes-10`) need 8 epochs (train_cfg.max_epochs, param_scheduler.1.end and .T_max). Per-set
# numbers across seeds: benchmarks/results/small_data/README.md and
# docs/en/user_guides/own_dataset.md.
_base_ = ['./mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py']
max_epochs = 4
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0, end=max_epochs,
         T_max=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
