# Entry point: stage 1 of the README demo (MCTformer+ from DINOv2 ViT-S/14 on the generated demo
# data; see the fully named config).
_base_ = ['./mctformer/mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py']
