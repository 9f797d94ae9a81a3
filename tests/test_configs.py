"""Every shipped config loads; MMSeg's configs are inherited through ``mmseg::``."""
import copy
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import TRANSFORMS

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.stack import installed_distributions
from mmseg_mctformer.utils import config_scopes
from mmseg_mctformer.utils.config_scopes import register_fork_distributions

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOP_CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def test_entry_point_configs_exist():
    names = {osp.relpath(p, ROOT) for p in TOP_CONFIGS}
    for required in ('configs/mctformer_plus_voc.py', 'configs/mctformer_voc.py',
                     'configs/mctformer_plus_coco.py', 'configs/mctformer_plus_dinov2s_voc.py'):
        assert required in names


@pytest.mark.parametrize('path', TOP_CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_loads(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmseg'
    assert 'mmseg_mctformer' in cfg.custom_imports['imports']
    assert cfg.train_dataloader.dataset.type
    if cfg.model.type == 'MCTformer':
        c = cfg.model.backbone.num_classes
        assert cfg.model.cls_head.num_classes == c == cfg.model.cam_head.num_classes
        pack = cfg.train_dataloader.dataset.pipeline[-1]
        assert pack.type == 'PackWSSSInputs' and pack.get('num_classes', c) == c
        # every training transform builds in the configs' default scope (mmpretrain's RandAugment
        # needs its own scope for its policies)
        with DefaultScope.overwrite_default_scope(cfg.default_scope):
            for step in cfg.train_dataloader.dataset.pipeline:
                assert TRANSFORMS.build(copy.deepcopy(step)) is not None


def test_mctformer_plus_and_v2_differ_only_in_method_switches():
    plus = Config.fromfile(osp.join(ROOT, 'configs/mctformer_plus_voc.py'))
    v2 = Config.fromfile(osp.join(ROOT, 'configs/mctformer_voc.py'))
    assert plus.model.cam_head.pool == 'gwrp' and plus.model.cam_head.gwrp_decay == 0.996
    assert v2.model.cam_head.pool == 'gap' and v2.model.cct_loss is None
    assert plus.model.backbone.cls_pos_embed == v2.model.backbone.cls_pos_embed == 'per_class'


def test_entry_points_follow_the_authors_recipes():
    """MCTformer+: HEAD 0acc27a of the authors' code (main.py defaults); V2: commit 9606597."""
    for name in ('mctformer_plus_voc.py', 'mctformer_plus_coco.py'):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', name))
        assert cfg.train_dataloader.batch_size == 32 and cfg.train_dataloader.drop_last
        # seeds from the last epoch: no model selection by pixel ground truth
        assert cfg.default_hooks.checkpoint.save_best is None
        assert cfg.optim_wrapper.optimizer.lr == pytest.approx(5e-4 * 32 / 512)
        assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
        assert cfg.train_cfg.max_epochs == 45
        sched, = cfg.param_scheduler
        assert sched.type == 'EpochWarmupCosineLR' and (sched.T, sched.end) == (45, 45)
        assert (sched.warmup_epochs, sched.warmup_lr, sched.eta_min) == (5, 1e-6, 1e-5)
        assert cfg.model.backbone.img_size == 448 and cfg.model.backbone.drop_path_rate == 0.1
        assert cfg.model.backbone.pos_load_resize == 'nearest'
        cct = cfg.model.cct_loss
        assert (cct.layers, cct.normalize, cct.label_weighted) == (12, True, True)
        t = cfg.model.test_cfg
        assert t.scales == (1.0, 0.75, 1.25) and t.flip
        assert (t.top_k, t.attn_reduce, t.fusion, t.minmax_eps) == (12, 'mean', 'sqrt', 1e-8)
        assert t.resize_mode == 'authors'
        aug = {step.type: step for step in cfg.train_dataloader.dataset.pipeline}
        assert aug['mmpretrain.RandomResizedCrop'].scale == 448
        ra = aug['RandAugment']
        assert ra._scope_ == 'mmpretrain'
        assert (ra.magnitude_level, ra.magnitude_std, ra.policies) == (9, 0.5, 'timm_increasing')
        erasing = aug['TimmRandomErasing']
        assert (erasing.erase_prob, erasing.min_area, erasing.min_aspect) == (0.25, 0.02, 0.3)
        assert cfg.val_evaluator[-1] == dict(type='SeedMetric', thresholds='authors')
    v2 = Config.fromfile(osp.join(ROOT, 'configs/mctformer_voc.py'))
    assert v2.train_dataloader.batch_size == 64 and v2.train_cfg.max_epochs == 60
    assert v2.train_dataloader.drop_last
    assert v2.optim_wrapper.optimizer.lr == pytest.approx(5e-4 * 64 / 512)
    assert v2.model.backbone.img_size == 224
    assert v2.model.backbone.pos_interp == 'scale_factor_offset'
    t = v2.model.test_cfg
    assert (t.scales, t.top_k, t.attn_reduce, t.fusion) == ((1.0, ), 3, 'sum', 'product')
    assert t.resize_mode == 'authors'
    demo = Config.fromfile(osp.join(ROOT, 'configs/mctformer_plus_demo.py'))
    assert demo.model.test_cfg.resize_mode == 'bilinear_patch_multiple'


def test_paper_literal_variant_keeps_the_papers_choices():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/mctformer/mctformer-plus_deit-s_1xb64-60e_voc12aug-448x448.py'))
    assert cfg.model.backbone.cls_pos_embed == 'shared'
    assert cfg.model.backbone.pos_load_resize == 'bicubic'
    cct = cfg.model.cct_loss
    assert (cct.layers, cct.normalize, cct.label_weighted) == ('all', False, False)
    t = cfg.model.test_cfg
    assert (t.scales, t.top_k, t.attn_reduce, t.fusion) == ((1.0, 0.5, 1.5, 2.0), 3, 'sum',
                                                             'product')


def test_mmseg_scope_builds_deeplabv3plus():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/deeplabv3plus',
                 'deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py'))
    assert cfg.model.backbone.type == 'ResNetV1c' and cfg.model.backbone.depth == 101
    assert cfg.model.decode_head.type == 'DepthwiseSeparableASPPHead'
    demo = Config.fromfile(osp.join(
        ROOT, 'configs/deeplabv3plus',
        'deeplabv3plus_vit-s14-frozen_1xb16-1500it_demo-pseudo-112x112.py'))
    demo.model.backbone.context_path.init_cfg = None
    model = MODELS.build(demo.model)
    assert type(model).__name__ == 'EncoderDecoder'
    assert type(model.decode_head).__name__ == 'DepthwiseSeparableASPPHead'


def test_register_fork_distributions_maps_only_missing_upstream():
    mapping = {'mmseg': 'mmsegmentation', 'mmpretrain': 'mmpretrain', 'mmdet': 'mmdet'}
    changed = register_fork_distributions(mapping)
    # each scope names the distribution installed here: a fork's, or upstream's left alone
    for scope in ('mmseg', 'mmpretrain'):
        installed = next(iter(installed_distributions(scope)))
        assert mapping[scope] == installed
        assert changed.get(scope) == (installed if installed.startswith('onedl-') else None)
    # an entry whose distribution is installed is left alone
    mapping2 = {'mmseg': mapping['mmseg']}
    assert 'mmseg' not in register_fork_distributions(mapping2)


@pytest.mark.parametrize('installed', [('onedl-mmsegmentation', 'onedl-mmpretrain'),
                                       ('mmsegmentation', 'mmpretrain')])
def test_register_fork_distributions_on_either_stack(installed, monkeypatch):
    monkeypatch.setattr(config_scopes, '_installed', set(installed).__contains__)
    mapping = {'mmseg': 'mmsegmentation', 'mmpretrain': 'mmpretrain', 'mmdet': 'mmdet'}
    changed = register_fork_distributions(mapping)
    assert (mapping['mmseg'], mapping['mmpretrain']) == installed
    assert changed == ({} if installed[0] == 'mmsegmentation' else
                       {'mmseg': installed[0], 'mmpretrain': installed[1]})
    assert mapping['mmdet'] == 'mmdet'  # neither installed: unchanged


def test_affinity_configs_hold_the_psa_recipe():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    for name in ('voc12aug', 'coco2014'):
        cfg = Config.fromfile(osp.join(
            ROOT, f'configs/affinity/affinitynet_r101-v1c_1xb8-5e_{name}-448x448.py'))
        assert cfg.model.backbone.type == 'ResNetV1c' and cfg.model.backbone.depth == 101
        assert cfg.train_dataloader.batch_size == 8 and cfg.train_cfg.max_epochs == 5
        assert cfg.optim_wrapper.optimizer.lr == 0.01
        assert (cfg.model.test_cfg.beta, cfg.model.test_cfg.logt) == (8, 6)
        label = cfg.train_dataloader.dataset.pipeline[2]
        assert (label.type, label.low_alpha, label.high_alpha) == ('GenerateAffinityLabel', 1, 12)
        assert cfg.train_dataloader.dataset.pipeline[4].crop_size == (448, 448)
    demo = Config.fromfile(
        osp.join(ROOT, 'configs/affinity/affinitynet_dinov2-s_1xb16-1e_demo-112x112.py'))
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(demo.model)
    assert type(model).__name__ == 'AffinityNet' and model.grid_size((112, 112)) == (28, 28)
