"""Every name the plugin registers builds from a config dict through MMSeg's registries."""
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS, VISUALIZERS

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.datasets import DEMO_CLASSES, convert_seg_to_wsol

TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64, patch_size=8)
TINY_VIT = dict(type='MultiClassTokenViT', arch=TINY_ARCH, num_classes=6, img_size=64)

MODEL_CFGS = {
    'WSSSDataPreProcessor': dict(type='WSSSDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1]),
    'MultiClassTokenViT': TINY_VIT,
    'TwoPathBackbone': dict(
        type='TwoPathBackbone',
        context_path=dict(type='mmpretrain.VisionTransformer', arch=TINY_ARCH, img_size=64,
                          out_type='featmap'),
        spatial_path=dict(type='ResNetV1c', depth=18, num_stages=1, out_indices=(0, ),
                          strides=(1, ), dilations=(1, ), stem_channels=8, base_channels=8)),
    'ClassTokenPoolHead': dict(type='ClassTokenPoolHead', num_classes=6, in_channels=32),
    'PatchCAMHead': dict(type='PatchCAMHead', num_classes=6, in_channels=32),
    'MCTLocalizationHead': dict(
        type='MCTLocalizationHead',
        cls_head=dict(type='ClassTokenPoolHead', num_classes=6, in_channels=32),
        cam_head=dict(type='PatchCAMHead', num_classes=6, in_channels=32)),
    'ContrastiveClassTokenLoss': dict(type='ContrastiveClassTokenLoss'),
    'MultiLabelSoftMarginLoss': dict(type='MultiLabelSoftMarginLoss'),
    'AffinityLoss': dict(type='AffinityLoss'),
    'LeanDropPath': dict(type='LeanDropPath', drop_prob=0.1),
    'AffinityNet': dict(type='AffinityNet', backbone=TINY_VIT, in_channels=(32, ), channels=(8, ),
                        embed_dims=8, image_branch=(8, 8), radius=3),
    'MCTformer': dict(
        type='MCTformer',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1]),
        backbone=TINY_VIT,
        cls_head=dict(type='ClassTokenPoolHead', num_classes=6, in_channels=32),
        cam_head=dict(type='PatchCAMHead', num_classes=6, in_channels=32),
        cct_loss=dict(type='ContrastiveClassTokenLoss')),
}
MODEL_CFGS['CachedTwoPathBackbone'] = dict(
    MODEL_CFGS['TwoPathBackbone'], type='CachedTwoPathBackbone', frozen_context_path=True,
    context_cache_size=4)
MODEL_CFGS['ProbSegTTAModel'] = dict(type='ProbSegTTAModel', module=MODEL_CFGS['MCTformer'])
TRANSFORM_CFGS = {
    'LoadCheckedImageFromFile': dict(type='LoadCheckedImageFromFile'),
    'LoadImageLevelLabels': dict(type='LoadImageLevelLabels', num_classes=6),
    'PackWSSSInputs': dict(type='PackWSSSInputs', num_classes=6),
    'LoadWSOLAnnotations': dict(type='LoadWSOLAnnotations', scale=(224, 224)),
    'LoadLocalizationMaps': dict(type='LoadLocalizationMaps', maps_dir='maps'),
    'GenerateAffinityLabel': dict(type='GenerateAffinityLabel'),
    'PackAffinityInputs': dict(type='PackAffinityInputs', num_classes=6),
    'TimmRandomErasing': dict(type='TimmRandomErasing'),
}
METRIC_CFGS = {
    'SeedMetric': dict(type='SeedMetric'),
    'MultiLabelMAPMetric': dict(type='MultiLabelMAPMetric'),
    'PseudoLabelMetric': dict(type='PseudoLabelMetric', output_dir='pseudo_labels'),
    'PxAPMetric': dict(type='PxAPMetric'),
    'PseudoMaskMetric': dict(type='PseudoMaskMetric'),
    'CRFIoUMetric': dict(type='CRFIoUMetric', num_workers=2),
    'SubmissionMetric': dict(type='SubmissionMetric', output_dir='submission', server='coco'),
}
HOOK_CFGS = {
    'PseudoLabelHook': dict(type='PseudoLabelHook', dataloader=dict(dataset=dict())),
    'AtomicCheckpointHook': dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1),
    'ReproducibilityHook': dict(type='ReproducibilityHook'),
    'ReproducibleSeedHook': dict(type='ReproducibleSeedHook'),
}
VISUALIZER_CFGS = {
    'LocalizationMapVisualizer': dict(type='LocalizationMapVisualizer', name='test_registry'),
}
DATASET_CLASSES = {
    'VOCWSSSDataset': 20, 'COCOWSSSDataset': 80, 'DemoWSSSDataset': 6, 'WSSSBaseDataset': 6,
}
# datasets in the WSOL layout (wsolevaluation metadata), built from a converted tiny demo
WSOL_DATASET_CLASSES = {'OpenImagesWSOLDataset': 6}


def _ours(registry):
    return {name for name, cls in registry.module_dict.items()
            if cls.__module__.startswith('mmseg_mctformer')}


@pytest.mark.parametrize('registry,cfgs', [
    (MODELS, MODEL_CFGS), (TRANSFORMS, TRANSFORM_CFGS), (METRICS, METRIC_CFGS),
    (HOOKS, HOOK_CFGS), (VISUALIZERS, VISUALIZER_CFGS),
    (DATASETS, {**DATASET_CLASSES, **WSOL_DATASET_CLASSES}),
], ids=['MODELS', 'TRANSFORMS', 'METRICS', 'HOOKS', 'VISUALIZERS', 'DATASETS'])
def test_every_registered_name_is_covered(registry, cfgs):
    assert _ours(registry) == set(cfgs), 'a registered name lacks a build test'


@pytest.mark.parametrize('name', sorted(MODEL_CFGS))
def test_build_models(name):
    with DefaultScope.overwrite_default_scope('mmseg'):
        module = MODELS.build(MODEL_CFGS[name])
    assert type(module).__name__ == name
    assert isinstance(module, torch.nn.Module)


@pytest.mark.parametrize('registry,cfgs', [
    (TRANSFORMS, TRANSFORM_CFGS), (METRICS, METRIC_CFGS), (HOOKS, HOOK_CFGS),
    (VISUALIZERS, VISUALIZER_CFGS)])
def test_build_other_modules(registry, cfgs):
    for name, cfg in cfgs.items():
        assert type(registry.build(dict(cfg))).__name__ == name


@pytest.mark.parametrize('name', sorted(DATASET_CLASSES))
def test_build_datasets(name, tiny_demo_root):
    cfg = dict(type=name, data_root=tiny_demo_root, ann_file='ImageSets/Segmentation/train.txt',
               data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
               pipeline=[dict(type='LoadCheckedImageFromFile'),
                         dict(type='PackWSSSInputs', num_classes=DATASET_CLASSES[name])])
    if name == 'WSSSBaseDataset':
        cfg['metainfo'] = dict(classes=('background', 'tshirt', 'trouser', 'dress', 'sandal',
                                        'bag', 'ankle_boot'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = DATASETS.build(cfg)
    assert type(dataset).__name__ == name
    assert len(dataset) == 16
    sample = dataset[0]['data_samples']
    assert sample.gt_class_labels.shape == (DATASET_CLASSES[name], )


@pytest.mark.parametrize('name', sorted(WSOL_DATASET_CLASSES))
def test_build_wsol_datasets(name, tiny_demo_root, tmp_path):
    with open(osp.join(tiny_demo_root, 'ImageSets/Segmentation/val.txt')) as f:
        names = f.read().split()
    convert_seg_to_wsol([osp.join(tiny_demo_root, 'JPEGImages', n + '.jpg') for n in names],
                        [osp.join(tiny_demo_root, 'SegmentationClassAug', n + '.png')
                         for n in names], DEMO_CLASSES[1:], str(tmp_path), 'val')
    cfg = dict(type=name, data_root=str(tmp_path), split='val',
               pipeline=[dict(type='LoadCheckedImageFromFile'),
                         dict(type='LoadWSOLAnnotations'),
                         dict(type='PackWSSSInputs', num_classes=WSOL_DATASET_CLASSES[name])],
               metainfo=dict(classes=DEMO_CLASSES))
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = DATASETS.build(cfg)
    assert type(dataset).__name__ == name
    assert len(dataset) >= len(names)  # one entry per (image, class)
    sample = dataset[0]['data_samples']
    assert sample.gt_class_labels.sum() == 1
    assert sample.gt_sem_seg.data.shape[-2:] == (32, 32)
