"""tools/test.py with MMSeg's flags (--out, --show-dir, --show, --wait-time, --tta)."""
import glob
import importlib.util
import os
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

import mmseg_mctformer  # noqa: F401
from mmseg_mctformer.apis import configure_test, load_config
from mmseg_mctformer.datasets import DemoWSSSDataset

from .conftest import ROOT, TINY_CFG, data_root_options

TINY_SEG_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_deeplab_demo.py')


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options(root):
    return dict(o.split('=', 1) for o in data_root_options(root))


def test_configure_test_flags():
    cfg = configure_test(load_config(TINY_CFG), out='o', show=True, wait_time=0.5,
                         show_dir='v', tta=True)
    hook = cfg.default_hooks.visualization
    assert hook.draw and hook.show and hook.wait_time == 0.5
    assert cfg.visualizer.save_dir == osp.join(cfg.work_dir, 'v')
    assert cfg.model.test_cfg.scales == (1.0, 0.5, 1.5, 2.0) and cfg.model.test_cfg.flip
    # the stage-1 metrics take no output_dir: the seed PNGs are written by PseudoLabelMetric
    assert [m['type'] for m in cfg.test_evaluator] == [
        'MultiLabelMAPMetric', 'SeedMetric', 'PseudoLabelMetric']
    assert cfg.test_evaluator[-1]['output_dir'] == 'o'
    # MMSeg's DeepLab config: IoUMetric saves its predictions, --tta uses tta_pipeline/model
    seg = configure_test(load_config(TINY_SEG_CFG), out='o', tta=True)
    assert seg.test_evaluator['output_dir'] == 'o' and seg.test_evaluator['keep_results']
    assert seg.model.type == 'SegTTAModel' and seg.model.module.type == 'EncoderDecoder'
    cfg = load_config(TINY_CFG)
    del cfg.default_hooks['visualization']
    with pytest.raises(KeyError, match='default_hooks.visualization'):
        configure_test(cfg, show_dir='v')


def test_show_dir_help_names_the_folder(capsys):
    with pytest.raises(SystemExit):
        _tool('test').parse_args(['--help'])
    assert '{work_dir}/{show_dir}/vis_data/vis_image/' in ' '.join(capsys.readouterr().out.split())


def test_test_tool_out_show_dir_tta(tiny_demo_root, tmp_path):
    cfg = load_config(TINY_CFG, _options(tiny_demo_root))
    with DefaultScope.overwrite_default_scope('mmseg'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    checkpoint = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(DemoWSSSDataset.METAINFO))), checkpoint)
    common = ['--work-dir', str(tmp_path / 'work'), '--cfg-options'] + data_root_options(
        tiny_demo_root)
    out_dir = str(tmp_path / 'out')
    metrics = _tool('test').main([TINY_CFG, checkpoint, '--out', out_dir, '--show-dir', 'vis']
                                 + common)
    assert 0 <= metrics['seed/mIoU'] <= 100 and metrics['pseudo_label/written'] == 4
    assert len([n for n in os.listdir(out_dir) if n.endswith('.png')]) == 4
    # where the --show-dir help says (test_show_dir_help_names_the_folder)
    drawn = glob.glob(str(tmp_path / 'work' / 'vis' / 'vis_data' / 'vis_image' / '*.png'))
    assert len(drawn) == 4
    tta = _tool('test').main([TINY_CFG, checkpoint, '--tta'] + common)
    assert 0 <= tta['seed/mIoU'] <= 100
