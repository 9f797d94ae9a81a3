import pytest
import torch
from mmengine.config import Config

from mmseg_mctformer.engine.runner import (
    close_process_group,
    enable_amp,
    load_config,
    set_init_from_stage1,
)

DEMO = 'configs/mctformer/mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py'
AFFINITY = 'configs/affinity/affinitynet_dinov2-s_1xb16-1e_demo-112x112.py'


def test_load_config_applies_overrides(tmp_path):
    cfg = load_config(DEMO, {'train_cfg.max_epochs': 1}, str(tmp_path), amp=True, resume=True)
    assert cfg.train_cfg.max_epochs == 1
    assert cfg.work_dir == str(tmp_path)
    assert cfg.resume is True
    import torch
    if torch.cuda.is_available():  # MMSeg's --amp
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert cfg.optim_wrapper.loss_scale == 'dynamic'
    else:  # mmengine's AmpOptimWrapper refuses to start without CUDA: bf16 autocast
        assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
        assert cfg.optim_wrapper.dtype == 'bfloat16'
        enable_amp(cfg)  # twice: left as it is
        assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'


def test_default_work_dir_is_named_after_the_config():
    cfg = load_config(DEMO)
    assert cfg.work_dir == './work_dirs/mctformer-plus_dinov2-s_1xb32-2e_demo-112x112'


def test_missing_config_names_the_file():
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_config('configs/nope.py')


def test_amp_rejects_unknown_wrapper():
    cfg = load_config(DEMO)
    cfg.optim_wrapper.type = 'MyWrapper'
    with pytest.raises(ValueError, match='MyWrapper'):
        enable_amp(cfg)


def test_distributed_launch_falls_back_to_gloo_without_cuda():
    import torch
    cfg = load_config(DEMO, launcher='pytorch')
    expected = 'nccl' if torch.cuda.is_available() else 'gloo'
    assert cfg.env_cfg.dist_cfg.backend == expected
    assert load_config(DEMO).env_cfg.dist_cfg.backend == 'nccl'


def test_close_process_group_shuts_down_the_group(tmp_path):
    import torch.distributed as dist

    close_process_group()  # no group: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    assert dist.is_initialized()
    close_process_group()
    assert not dist.is_initialized()


def test_cfg_options_dicts_from_the_command_line():
    # the README's TensorBoard line, parsed as the tools parse it
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args([
        '--cfg-options', "visualizer.vis_backends=[dict(type='LocalVisBackend'),"
        "dict(type='TensorboardVisBackend')]", "x={'a': 1}", 'y=dict(b', 'z=[1,2]'])
    cfg = load_config(DEMO, args.cfg_options)
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'TensorboardVisBackend']
    assert cfg.x == {'a': 1} and cfg.y == 'dict(b' and cfg.z == [1, 2]


def test_pseudo_label_dir_from_cfg_options():
    cfg = load_config('tests/data/tiny_deeplab_demo.py', {'pseudo_label_dir': '/x/pl'})
    assert cfg.train_dataloader.dataset.data_prefix.seg_map_path == '/x/pl'
    assert cfg.pseudo_label_dir == '/x/pl'


def test_init_from_stage1_sets_the_named_module_init():
    cfg = Config(dict(init_from_stage1='model.backbone.context_path',
                      model=dict(backbone=dict(context_path=dict(type='X', init_cfg=None)))))
    assert set_init_from_stage1(cfg, '/s1.pth')
    assert cfg.model.backbone.context_path.init_cfg == dict(
        type='Pretrained', checkpoint='/s1.pth', prefix='backbone.')
    assert not set_init_from_stage1(Config(dict(model=dict())), '/s1.pth')
    with pytest.raises(KeyError, match="'neck'"):
        set_init_from_stage1(Config(dict(init_from_stage1='model.neck', model=dict())), 'c')
    with pytest.raises(KeyError, match='not a module config'):
        set_init_from_stage1(Config(dict(init_from_stage1='model', model=dict(a=1))), 'c')


def test_amp_inference_sets_fp16_of_the_mmengine_loops(tmp_path):
    from mmseg_mctformer.engine.runner import build_runner, enable_amp_inference
    cfg = load_config(DEMO)
    cfg.pop('test_cfg', None)
    enable_amp_inference(cfg)
    assert cfg.val_cfg == dict(type='ValLoop', fp16=True)
    assert cfg.test_cfg == dict(type='TestLoop', fp16=True)
    cfg.val_cfg = dict(type='MyValLoop')  # a loop of another type is left alone
    enable_amp_inference(cfg)
    assert cfg.val_cfg == dict(type='MyValLoop')
    # no validation (the AffinityNet configs): no val_cfg either, or mmengine refuses the config
    cfg = load_config(AFFINITY)
    assert cfg.get('val_dataloader') is None and cfg.get('val_cfg') is None
    enable_amp_inference(cfg)
    assert cfg.get('val_cfg') is None and cfg.test_cfg.fp16 is True
    cfg.work_dir = str(tmp_path)
    cfg.model.backbone.init_cfg = None
    build_runner(cfg)  # mmengine accepts the loops


def test_bg_threshold_enters_through_the_model_test_cfg():
    from mmseg_mctformer.engine.runner import set_bg_threshold
    cfg = Config(dict(model=dict(type='MCTformer')))
    assert set_bg_threshold(cfg, None) is cfg and 'test_cfg' not in cfg.model
    set_bg_threshold(cfg, 0.3)
    assert cfg.model.test_cfg == dict(bg_threshold=0.3)
    with pytest.raises(ValueError, match=r'bg_threshold must lie in \[0, 1\].*got 1.5'):
        set_bg_threshold(cfg, 1.5)


def test_bg_threshold_enters_a_built_models_test_cfg(monkeypatch):
    """A built model (a wrapper's module): its test_cfg, which its predictions carry."""
    from mmseg_mctformer.engine.runner import runner_utils, set_bg_threshold
    model = torch.nn.Linear(1, 1)
    model.test_cfg = dict(scales=(1.0, ), bg_threshold=0.45)
    assert set_bg_threshold(model, None) is model and model.test_cfg['bg_threshold'] == 0.45
    assert set_bg_threshold(model, 0.2).test_cfg == dict(scales=(1.0, ), bg_threshold=0.2)
    assert set_bg_threshold(torch.nn.Linear(1, 1), 0.3).test_cfg == dict(bg_threshold=0.3)
    wrapper = torch.nn.Module()
    wrapper.module = model
    monkeypatch.setattr(runner_utils, 'is_model_wrapper', lambda m: m is wrapper)
    set_bg_threshold(wrapper, 0.6)
    assert model.test_cfg['bg_threshold'] == 0.6 and not hasattr(wrapper, 'test_cfg')
    with pytest.raises(ValueError, match=r'bg_threshold must lie in \[0, 1\].*got -1'):
        set_bg_threshold(model, -1)


def test_keys_written_into_missing_sub_configs_reach_the_config():
    from mmseg_mctformer.engine.runner import adapt_distributed_to_cpu, set_pseudo_label_dir
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='RepeatDataset',
                                                         dataset=dict(type='X')))))
    set_pseudo_label_dir(cfg, '/pl')
    assert cfg.train_dataloader.dataset.dataset.data_prefix == dict(seg_map_path='/pl')
    if not torch.cuda.is_available():
        adapt_distributed_to_cpu(cfg)
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
