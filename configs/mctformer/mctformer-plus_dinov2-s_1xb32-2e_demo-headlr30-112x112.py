# The demo's stage 1 with the PatchCAM head, like the class tokens, at 30x the base learning rate:
# the recipe to try when stage 1 does not learn on a dataset of your own with photographic
# backgrounds (docs/en/user_guides/own_dataset.md). Both start from nothing class-specific (the C
# tokens are copies of one pretrained token, the PatchCAM conv is random). On generated shapes over
# photographs the demo recipe leaves both near chance after 126 AdamW steps; this one learns there.
# It does not help every set: on small shapes (15-30 % of the side) neither recipe learns within
# 126 steps, and on the emoji set it lowers the class mAP. Every number, per set:
# benchmarks/results/small_data/README.md.
_base_ = ['./mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py']
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        'cls_token': dict(lr_mult=30.0, decay_mult=0.0),
        'cam_head': dict(lr_mult=30.0),
    }))
