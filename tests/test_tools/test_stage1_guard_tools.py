"""tools/train.py and tools/run_pipeline.py stop on a weak stage 1 unless --allow-weak-stage1."""
import importlib.util
import json
import os.path as osp

import pytest

from mmseg_mctformer.pipeline import stage1_guard

from .conftest import ROOT, TINY_CFG, TINY_SEG_CFG, data_root_options


def _tool(name):
    spec = importlib.util.spec_from_file_location(f'_{name}_tool',
                                                  osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_reads_the_last_validation_and_stops(tiny_demo_root, tmp_path, monkeypatch):
    seen = []

    def weak(metrics, thresholds=None, min_map_gain=10.0):
        seen.append((dict(metrics), thresholds))
        return ['classification mAP 1.0 is near the base rate']

    monkeypatch.setattr(stage1_guard, 'stage1_problems', weak)
    train = _tool('train')
    work_dir = str(tmp_path / 'work')
    argv = [TINY_CFG, '--work-dir', work_dir, '--cfg-options', 'train_cfg.max_epochs=1',
            'train_cfg.val_interval=1'] + data_root_options(tiny_demo_root)
    with pytest.raises(SystemExit, match=r'train: stage 1 \(.*work, last validation\) has not '
                       r'learned.*--allow-weak-stage1'):
        train.main(argv)
    metrics, thresholds = seen[0]
    assert {'cls/mAP', 'cls/label_rate', 'seed/best_threshold'} <= set(metrics)
    assert thresholds[0] == 0.0 and thresholds[-1] == 0.95
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))  # the checkpoint is kept
    # with the flag the run ends normally (resumed: nothing left to train)
    train.main(argv + ['--resume', '--allow-weak-stage1'])


def test_run_pipeline_stops_with_the_flag_named(tmp_path):
    work_dir = tmp_path / 'pipe'
    work_dir.mkdir()
    weak = {'cls/mAP': 30.4, 'cls/label_rate': 30.0, 'seed/best_threshold': 0.95}
    state = dict(stage1=dict(checkpoint='stage1/epoch_2.pth', final_val_metrics=weak),
                 seeds=dict(cls_mAP=30.4, seed_mIoU=12.0, best_threshold=0.95, metrics=weak))
    (work_dir / 'pipeline_state.json').write_text(json.dumps(state))
    tool = _tool('run_pipeline')
    with pytest.raises(SystemExit, match=r'run_pipeline: stage 1 .*mAP 30\.4.*highest of the '
                       r'sweep.*--allow-weak-stage1'):
        tool.main([TINY_CFG, '--seg-config', TINY_SEG_CFG, '--work-dir', str(work_dir)])
