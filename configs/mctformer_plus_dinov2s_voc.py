# Entry point: MCTformer+ from DINOv2 ViT-S/14 weights on VOC 2012 aug (see the fully named config).
_base_ = ['./mctformer/mctformer-plus_dinov2-s_1xb64-60e_voc12aug-448x448.py']
