# Demo ablation: MCTformer (V2: GAP, no CCT) with the demo's budget.
_base_ = ['./mctformer_plus_dinov2s_demo.py']
model = dict(cam_head=dict(pool='gap'), cct_loss=None)
