# DeiT fine-tuning recipe used by MCTformer: AdamW (wd 0.05), lr 5e-4 * batch / 512, 5 warm-up epochs
# from 1e-6, cosine decay to 1e-5, 60 epochs. `auto_scale_lr` rescales lr for another total batch size.
base_lr = 5e-4 * 64 / 512
max_epochs = 60
warmup_epochs = 5
optim_wrapper = dict(
    type='OptimWrapper',
    # fused=True: one fused call a parameter group instead of a loop over the tensors (CPU, CUDA);
    # the same AdamW update to float rounding (tests/test_configs_optimizer.py); the constructor
    # drops `fused` where PyTorch has no fused kernel for the device (CPU before torch 2.4)
    constructor='FusedFallbackOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05,
                   fused=True),
    # no weight decay on norms, biases, class tokens and position embeddings (as DeiT/timm)
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'cls_token': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
        }),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / base_lr, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, T_max=max_epochs - warmup_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=64)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # keeps the latest checkpoints for --resume; written atomically (a kill or a full disk mid-save
    # never costs the last complete checkpoint). The seeds are made by the last epoch's weights,
    # as the authors' code. `save_best='seed/mIoU'` would also keep the best epoch by seed mIoU,
    # i.e. model selection with the pixel ground truth of the val split, which weak supervision
    # does not have: off; opt in with --cfg-options default_hooks.checkpoint.save_best=seed/mIoU
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=2,
                    save_best=None, rule='greater'),
    # sampler epoch + RNG seeded per epoch: a resumed run repeats the uninterrupted one
    sampler_seed=dict(type='ReproducibilityHook'),
    visualization=dict(type='SegVisualizationHook'),
)
