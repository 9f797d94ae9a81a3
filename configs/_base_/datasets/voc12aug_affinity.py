# The training images of VOC 2012 aug with the stage-1 maps (``{maps_dir}/{name}.npz`` of
# tools/make_pseudo_labels.py --save-logits): affinity labels for training, maps for the random walk.
# ``maps_dir`` is set by tools/run_pipeline.py (or --cfg-options on every LoadLocalizationMaps).
dataset_type = 'VOCWSSSDataset'
data_root = 'data/VOCdevkit/VOC2012'
maps_dir = 'work_dirs/voc_pipeline/pseudo_labels'
crop_size = (448, 448)
_prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')
# MCTformer's run_psa.sh: affinity labels from CRF-refined maps with background powers 1 and 12
# (the CRF only when pydensecrf is installed; thresholds only otherwise, see GenerateAffinityLabel).
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadLocalizationMaps', maps_dir=maps_dir),
    dict(type='GenerateAffinityLabel', low_alpha=1.0, high_alpha=12.0, crf=dict()),
    dict(type='RandomResize', scale=(448, 448), ratio_range=(1.0, 768 / 448), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadLocalizationMaps', maps_dir=maps_dir),
    dict(type='PackAffinityInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=_prefix,
                 ann_file='ImageSets/Segmentation/train_aug.txt', pipeline=train_pipeline))
# the masks are written for the training images (the labels of the DeepLab stage)
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=_prefix,
                 ann_file='ImageSets/Segmentation/train_aug.txt', pipeline=test_pipeline))
test_evaluator = dict(type='PseudoMaskMetric', output_dir='work_dirs/affinity_masks')
