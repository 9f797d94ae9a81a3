# The demo's final stage with its frozen ViT-S/14 taken from the stage-1 checkpoint instead of
# DINOv2: tools/run_pipeline.py loads it (`init_from_stage1`) and gives it stage 1's number of
# class tokens. The ViT fine-tuned on the dataset's own classes separates them where the
# ImageNet-style features do not: on the ten-class `shapes-10`, trained on the GT masks, 86.8 val
# mIoU against 58.1 from DINOv2 (benchmarks/results/small_data/pipeline_shapes-10_4e.md).
# Trained outside the pipeline (tools/train.py) it starts from DINOv2, as its base does.
_base_ = ['./deeplabv3plus_vit-s14-frozen_1xb16-1500it_demo-pseudo-112x112.py']
init_from_stage1 = 'model.backbone.context_path'
