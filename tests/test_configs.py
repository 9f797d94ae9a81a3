"""Every shipped config loads; MMSeg's configs are inherited through ``mmseg::``."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.utils.external_configs import register_fork_distributions

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


def test_mctformer_plus_and_v2_differ_only_in_method_switches():
    plus = Config.fromfile(osp.join(ROOT, 'configs/mctformer_plus_voc.py'))
    v2 = Config.fromfile(osp.join(ROOT, 'configs/mctformer_voc.py'))
    assert plus.model.cam_head.pool == 'gwrp' and plus.model.cam_head.gwrp_decay == 0.996
    assert plus.model.cct_loss.layers == 'all'
    assert v2.model.cam_head.pool == 'gap' and v2.model.cct_loss is None
    assert plus.model.test_cfg.scales == (1.0, 0.5, 1.5, 2.0) and plus.model.test_cfg.top_k == 3


def test_mmseg_scope_builds_deeplabv3plus():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/deeplab/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-pseudo-512x512.py'))
    assert cfg.model.backbone.type == 'ResNetV1c' and cfg.model.backbone.depth == 101
    assert cfg.model.decode_head.type == 'DepthwiseSeparableASPPHead'
    demo = Config.fromfile(osp.join(ROOT, 'configs/deeplab/deeplabv3plus_r18-d16_demo.py'))
    model = MODELS.build(demo.model)
    assert type(model).__name__ == 'EncoderDecoder'
    assert type(model.decode_head).__name__ == 'DepthwiseSeparableASPPHead'


def test_register_fork_distributions_maps_only_missing_upstream():
    mapping = {'mmseg': 'mmsegmentation', 'mmpretrain': 'mmpretrain', 'mmdet': 'mmdet'}
    changed = register_fork_distributions(mapping)
    # the forks are what is installed here; upstream names are absent
    assert mapping['mmseg'] == 'onedl-mmsegmentation' == changed['mmseg']
    assert mapping['mmpretrain'] == 'onedl-mmpretrain'
    # an entry whose distribution is installed is left alone
    mapping2 = {'mmseg': 'onedl-mmsegmentation'}
    assert 'mmseg' not in register_fork_distributions(mapping2)
    assert mapping2['mmseg'] == 'onedl-mmsegmentation'


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
