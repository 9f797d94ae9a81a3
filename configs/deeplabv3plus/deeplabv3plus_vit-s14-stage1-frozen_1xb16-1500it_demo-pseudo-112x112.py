# The final stage of `make demo` and `make demo-emoji`: the demo's DeepLabV3+ with its frozen
# ViT-S/14 taken from the stage-1 checkpoint instead of DINOv2. tools/run_pipeline.py loads it
# (`init_from_stage1`) and gives it stage 1's number of class tokens. The ViT fine-tuned on the
# dataset's own image labels separates its classes where the ImageNet-style features separate
# them least. Val mIoU trained on the random-walk masks / on the GT masks, DINOv2 start in
# brackets: demo 58.0 / 74.5 (57.3 / 70.5), emoji 73.2 / 89.4 (73.3 / 88.7), ten-class
# `shapes-10` 67.9 / 86.8 (49.6 / 58.1) (benchmarks/results/final_stage_stage1_vit.md).
# Trained outside the pipeline (tools/train.py) it starts from DINOv2, as its base does.
_base_ = ['./deeplabv3plus_vit-s14-frozen_1xb16-1500it_demo-pseudo-112x112.py']
init_from_stage1 = 'model.backbone.context_path'
