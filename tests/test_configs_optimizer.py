"""The stage-1 schedules build a fused AdamW: the per-tensor AdamW's update (the authors' timm
AdamW is torch's), in the config's parameter groups, and it resumes from checkpoints written by the
per-tensor one (our earlier versions)."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.utils.compat import fused_optimizer_supported

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'tests', 'data', 'tiny_mctformer_demo.py')
STAGE1 = ['configs/mctformer_plus_voc.py', 'configs/mctformer_voc.py',
          'configs/mctformer/mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py',
          'configs/mctformer/mctformer-plus_deit-s_1xb64-60e_voc12aug-448x448.py']


#: fused AdamW runs on a CPU from PyTorch 2.4; before, the configs' constructor drops `fused`
FUSED_CPU = fused_optimizer_supported(torch.optim.AdamW, 'cpu')


def _tiny_model():
    cfg = Config.fromfile(TINY)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(cfg.model)


def _optim_wrapper(model, config, fused):
    cfg = copy.deepcopy(Config.fromfile(osp.join(ROOT, config)).optim_wrapper)
    cfg.type = 'OptimWrapper'  # the AMP wrappers need CUDA; the update is the optimizer's
    cfg.pop('loss_scale', None)
    cfg.optimizer.fused = fused
    cfg.optimizer.lr = 1e-3  # visible steps in a few iterations
    with DefaultScope.overwrite_default_scope('mmseg'):
        return build_optim_wrapper(model, cfg)


def _batch(seed, num_classes=6):  # the demo's classes
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(32, 32), ori_shape=(32, 32)))
        label = torch.zeros(num_classes, dtype=torch.long)
        label[torch.randperm(num_classes, generator=gen)[:2]] = 1
        sample.set_data(dict(gt_class_labels=label))
        samples.append(sample)
    imgs = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=gen)
    return dict(inputs=list(imgs), data_samples=samples)


def _train(model, wrapper, seeds):
    model.train()
    for seed in seeds:
        torch.manual_seed(seed)  # the same stochastic depth on both sides
        model.train_step(_batch(seed), wrapper)


def _max_diff(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize('config', STAGE1)
def test_stage1_schedule_builds_fused_adamw_in_the_config_groups(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.fused is True
    model = _tiny_model()
    wrapper = _optim_wrapper(model, config, fused=True)
    opt = wrapper.optimizer
    assert isinstance(opt, torch.optim.AdamW) and bool(opt.defaults['fused']) is FUSED_CPU
    # paramwise_cfg still applies: no decay on norms, biases and class tokens
    decay = {id(p): g['weight_decay'] for g in opt.param_groups for p in g['params']}
    names = dict(model.named_parameters())
    assert decay[id(names['backbone.cls_token'])] == 0.0
    norm = next(n for n in names if n.endswith('ln1.weight'))
    assert decay[id(names[norm])] == 0.0
    fc = next(n for n in names if n.endswith('attn.qkv.weight'))
    assert decay[id(names[fc])] == pytest.approx(0.05)


@pytest.mark.skipif(not FUSED_CPU, reason=f'fused AdamW on a CPU needs PyTorch >= 2.4, found '
                    f'{torch.__version__} (the configs build it without `fused` there: '
                    'test_fused_fallback_constructor.py)')
def test_fused_adamw_resumes_a_per_tensor_checkpoint_and_makes_its_update():
    """Adam's normalised step amplifies float rounding over steps, so compare one step taken from
    the same weights and optimizer state: a per-tensor run's (as an earlier checkpoint holds)."""
    config = STAGE1[0]
    torch.manual_seed(0)
    loop_model = _tiny_model()
    start = copy.deepcopy(loop_model)
    loop = _optim_wrapper(loop_model, config, fused=False)
    _train(loop_model, loop, range(3))
    assert _max_diff(start, loop_model) > 1e-3  # the steps moved the weights

    fused_model = copy.deepcopy(loop_model)
    fused = _optim_wrapper(fused_model, config, fused=True)
    fused.load_state_dict(copy.deepcopy(loop.state_dict()))
    before = copy.deepcopy(loop_model)
    _train(loop_model, loop, [3])
    _train(fused_model, fused, [3])
    assert _max_diff(before, fused_model) > 1e-4
    assert _max_diff(loop_model, fused_model) < 1e-6
    state = fused.optimizer.state_dict()['state']
    assert state and all(float(s['step']) == 4 for s in state.values())



@pytest.mark.parametrize('config', [
    'configs/mctformer/mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py',
    'configs/mctformer_plus_demo.py',
    'configs/mctformer/mctformer-v2_dinov2-s_1xb32-2e_demo-112x112.py'])
def test_demo_recipe_learning_rate_multipliers(config):
    """The small-data recipe: the class tokens at 300x the base rate without weight decay, every
    parameter of the PatchCAM head at 30x, the other parameters at the base rate."""
    cfg = copy.deepcopy(Config.fromfile(osp.join(ROOT, config)).optim_wrapper)
    base = cfg.optimizer.lr
    cfg.type = 'OptimWrapper'
    model = _tiny_model()
    with DefaultScope.overwrite_default_scope('mmseg'):
        opt = build_optim_wrapper(model, cfg).optimizer
    group = {id(p): g for g in opt.param_groups for p in g['params']}
    params = {name: p for name, p in model.named_parameters() if id(p) in group}
    tokens = {name for name in params if name.endswith('cls_token')}
    cam = {name for name in params if 'cam_head' in name}
    assert tokens and cam
    for name, p in params.items():
        mult = 300 if name in tokens else 30 if name in cam else 1
        assert group[id(p)]['lr'] == pytest.approx(mult * base), name
    assert all(group[id(params[name])]['weight_decay'] == 0 for name in tokens)
