# MCTformer (CVPR'22, "V2") as the authors' public code at commit 9606597 of xulianuwa/MCTformer
# runs it: the MCTformer+ network with GAP pooling of PatchCAM and no CCT loss. Where the paper and
# the code disagree we follow the code (marked `paper:` below).
_base_ = ['./mctformer-plus_deit-s.py']
model = dict(
    backbone=dict(
        # code: pos_embed (1, C + 14*14, D), the C class entries copied from DeiT's class entry,
        # the grid bicubically interpolated on loading and at inference with DINO's +0.1 offset
        cls_pos_embed='per_class',
        pos_load_resize='bicubic',
        pos_interp='scale_factor_offset'),
    cam_head=dict(pool='gap'),
    cct_loss=None,
    test_cfg=dict(
        # code (run.sh): --scales 1.0 (each image with its flip). paper: multi-scale, unspecified
        scales=(1.0, ),
        # code (run.sh): --layer-index 3, the attention of the last 3 layers summed (Fig. 9 of the
        # paper: K = 3)
        top_k=3,
        attn_reduce='sum',
        # code and paper: attention * ReLU(PatchCAM)
        fusion='product',
        minmax_eps=1e-8))
