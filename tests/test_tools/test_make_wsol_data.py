"""tools/make_wsol_data.py + Runner.test(): the demo in the WSOL layout, evaluated by PxAPMetric."""
import os.path as osp

import torch
from mmengine.config import Config

from mmseg_mctformer.engine.runner import build_runner, load_config

from .conftest import ROOT, TINY_CFG, data_root_options, run_tool

WSOL_DEMO_CFG = osp.join(ROOT, 'configs', 'mctformer',
                         'mctformer-plus_dinov2-s_1xb32-2e_demo-wsol-112x112.py')


def test_wsol_copy_and_multi_label_split_give_the_same_pxap(tiny_demo_root, tmp_path):
    out = str(tmp_path / 'wsol')
    result = run_tool(['tools/make_wsol_data.py', tiny_demo_root, out, '--split', 'val'])
    assert result.returncode == 0, result.stderr
    assert 'entries of 4 images' in result.stdout
    options = dict(item.split('=', 1) for item in data_root_options(tiny_demo_root))

    # the multi-label val split, one (image, class) pair per GT class; tiny random weights
    cfg = load_config(TINY_CFG, options, str(tmp_path / 'multi'))
    cfg.test_evaluator = dict(type='PxAPMetric')
    runner = build_runner(cfg)
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=runner.model.state_dict()), ckpt)
    multi = runner.test()

    # the WSOL copy through the demo WSOL config's dataset and evaluator, same weights
    wsol = Config.fromfile(WSOL_DEMO_CFG)
    cfg = load_config(TINY_CFG, options, str(tmp_path / 'wsol_run'))
    cfg.test_dataloader.dataset = wsol.test_dataloader.dataset
    cfg.test_dataloader.dataset.data_root = out
    cfg.test_evaluator = wsol.test_evaluator
    cfg.load_from = ckpt
    single = build_runner(cfg).test()

    assert single['wsol/num_pairs'] == multi['wsol/num_pairs'] > 4
    assert single['wsol/PxAP'] == multi['wsol/PxAP']
    assert single['wsol/pIoU'] == multi['wsol/pIoU']
    assert 0 < single['wsol/PxAP'] <= 100 and 0 < single['wsol/pIoU'] <= 100
