# The MCTformer+ training schedule of the authors' code (main.py defaults at HEAD 0acc27a of
# xulianuwa/MCTformer, the values run_mct_plus.sh uses): timm AdamW, batch 32 on one GPU,
# lr 5e-4 * 32 / 512, weight decay 0.05, 45 epochs, 5 warm-up epochs from 1e-6, cosine to 1e-5.
_base_ = ['./schedule_60e_adamw_cosine.py']
base_lr = 5e-4 * 32 / 512
max_epochs = 45
warmup_epochs = 5
optim_wrapper = dict(
    # code: fp16 autocast with a dynamic loss scaler (timm NativeScaler); on CPU use
    # `--cfg-options optim_wrapper.type=OptimWrapper` (fp32)
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    # code: timm's AdamW, torch's per-tensor loop; ours fused (the same update, one call a group)
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05,
                   fused=True),
    # code: timm skips weight decay for 1-D tensors (norms, biases) and the names in
    # `no_weight_decay()` = {cls_token, pos_embed}; MCTformer+ keeps its position tables in
    # `pos_embed_cls` / `pos_embed_pat`, which therefore ARE decayed. We follow the code.
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'cls_token': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=1.0),
        }),
    # code: --clip-grad None
    clip_grad=None,
)
# code: timm's CosineLRScheduler (t_initial=45, warmup_t=5, warmup_lr_init=1e-6, lr_min=1e-5)
# stepped after each epoch: epochs 0 and 1 at 1e-6, the peak 3.061e-5 in epoch 6, the cosine over
# epochs 0-45 with the warm-up inside. The same 45 rates to float rounding
# (tests/test_engine/test_epoch_warmup_cosine_lr.py).
param_scheduler = [
    dict(type='EpochWarmupCosineLR', T=max_epochs, warmup_epochs=warmup_epochs, warmup_lr=1e-6,
         eta_min=1e-5, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
auto_scale_lr = dict(enable=False, base_batch_size=32)
