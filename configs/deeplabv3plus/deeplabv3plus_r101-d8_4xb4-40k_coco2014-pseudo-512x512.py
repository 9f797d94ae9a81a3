# Final stage on COCO 2014 (81 classes incl. background): MMSeg's DeepLabV3+ R101-D8 recipe on the
# MCTformer+ pseudo-masks of COCO train, validated on the GT masks of COCO val.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-40k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_mctformer'], allow_failed_imports=False)
model = dict(
    pretrained='checkpoints/resnet101_v1c-e67eebb6.pth',
    decode_head=dict(num_classes=81),
    auxiliary_head=dict(num_classes=81))
data_root = 'data/coco2014'
# an absolute path (tools/run_pipeline.py sets it); relative paths are joined to data_root
pseudo_label_dir = '/path/to/work_dirs/mctformer_plus_coco/pseudo_labels'
train_dataloader = dict(dataset=dict(
    _delete_=True,
    type='COCOWSSSDataset',
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_label_dir),
    ann_file='ImageSets/train.txt',
    skip_empty=False,
    pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(
    _delete_=True,
    type='COCOWSSSDataset',
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/val.txt',
    pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
# MMSeg's checkpoint hook, written atomically (a kill or a full disk mid-save keeps the last one);
# RNG seeded per iteration so that a resumed run's model-side randomness repeats
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'),
                     sampler_seed=dict(type='ReproducibilityHook'))
