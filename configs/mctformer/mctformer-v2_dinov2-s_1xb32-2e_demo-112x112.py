# Demo ablation: MCTformer (V2) as the authors' V2 code (GAP, no CCT, product fusion, last 3
# layers summed, scale 1.0 + flip), with the demo's budget (same training as the MCTformer+ demo).
_base_ = ['./mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py']
model = dict(
    backbone=dict(pos_interp='scale_factor_offset'),
    cam_head=dict(pool='gap'),
    cct_loss=None,
    test_cfg=dict(scales=(1.0, ), top_k=3, attn_reduce='sum', fusion='product'))
