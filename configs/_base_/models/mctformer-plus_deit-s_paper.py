# MCTformer+ with the paper's wording where the authors' code differs (the code's choices are in
# ./mctformer-plus_deit-s.py, which this file overrides):
# - the class tokens share one position entry ("the class tokens share the class-token position
#   embedding"); the patch grid is a bicubic interpolation of DeiT's 14 x 14;
# - CCT: S = T T^T of the raw tokens, all C rows, all layers (Fig. 11: all layers best);
# - maps: class-to-patch attention of the top K = 3 layers (Fig. 9), fused by the product
#   A_pCAM * A_mct, scales 1.0 / 0.5 / 1.5 / 2.0 + flip (MCTformer's multi-scale inference).
_base_ = ['./mctformer-plus_deit-s.py']
model = dict(
    backbone=dict(cls_pos_embed='shared', pos_load_resize='bicubic', pos_interp='size'),
    cct_loss=dict(layers='all', normalize=False, label_weighted=False),
    test_cfg=dict(scales=(1.0, 0.5, 1.5, 2.0), top_k=3, attn_reduce='sum', fusion='product',
                  minmax_eps=1e-5))
