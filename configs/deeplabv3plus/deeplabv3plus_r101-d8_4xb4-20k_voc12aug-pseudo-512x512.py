# Final stage on VOC: MMSeg's own DeepLabV3+ R101-D8 (20k iterations, 4 x 4 images) trained on the
# MCTformer+ pseudo-masks of train_aug, validated on the real val masks. Only the WSSS changes are here.
# tools/run_pipeline.py sets `pseudo_label_dir`-dependent keys (train seg_map_path) automatically.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_mctformer'], allow_failed_imports=False)
# ImageNet ResNet-101 V1c from a local file (MMSeg's `open-mmlab://resnet101_v1c`; no download).
model = dict(pretrained='checkpoints/resnet101_v1c-e67eebb6.pth')
data_root = 'data/VOCdevkit/VOC2012'
# an absolute path (tools/run_pipeline.py sets it); relative paths are joined to data_root
pseudo_label_dir = '/path/to/work_dirs/mctformer_plus_voc/pseudo_labels'
train_dataloader = dict(dataset=dict(
    _delete_=True,
    type='PascalVOCDataset',
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_label_dir),
    ann_file='ImageSets/Segmentation/train_aug.txt',
    pipeline={{_base_.train_pipeline}}))
# MMSeg's checkpoint hook, written atomically (a kill or a full disk mid-save keeps the last one);
# RNG seeded per iteration so that a resumed run's model-side randomness repeats
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'),
                     sampler_seed=dict(type='ReproducibilityHook'))
