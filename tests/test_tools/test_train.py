"""tools/train.py behaves like MMSeg's: --help, --cfg-options, --resume, dist_train.sh."""
import glob
import os
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook

from mmseg_mctformer.engine.runner import build_runner, load_config

from .conftest import TINY_CFG, data_root_options, run_tool

ITERS_PER_EPOCH = 4  # 16 images, batch 4
MAX_EPOCHS = 3


def _options(root):
    return data_root_options(root)


def _cfg_options_dict(root):
    return dict(item.split('=', 1) for item in _options(root))


def test_load_from_another_architecture_is_refused(tiny_demo_root, tmp_path):
    """load_from (fine-tuning) with a DeepLab checkpoint on the stage-1 config: refused before
    training, naming the file (mmengine alone loads it with strict=False and warnings)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'train_tool', osp.join(osp.dirname(TINY_CFG), '..', '..', 'tools', 'train.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    deeplab = str(tmp_path / 'deeplab.pth')
    torch.save(dict(state_dict={'decode_head.conv_seg.weight': torch.zeros(7, 8, 1, 1)}), deeplab)
    with pytest.raises(ValueError, match=r'deeplab.pth does not fit the model \(MCTformer\)'):
        tool.main([TINY_CFG, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                   f'load_from={deeplab}'] + _options(tiny_demo_root))
    assert not [f for f in os.listdir(tmp_path / 'work') if f.endswith('.pth')]


def test_train_help():
    result = run_tool(['tools/train.py', '--help'])
    assert result.returncode == 0, result.stderr
    for flag in ('--work-dir', '--resume', '--amp', '--cfg-options', '--launcher'):
        assert flag in result.stdout


class _Crash(Hook):
    """Raises in the middle of epoch 2, as a killed job would stop."""

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == ITERS_PER_EPOCH + 2:
            raise KeyboardInterrupt('simulated kill')


def test_killed_run_resumes_to_the_same_iteration_count(tiny_demo_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    # the best checkpoint by seed mIoU (opt-in: it selects a model with pixel GT) survives the kill
    keep_best = ['default_hooks.checkpoint.save_best=seed/mIoU']
    options = _options(tiny_demo_root) + keep_best
    cfg = load_config(TINY_CFG, dict(item.split('=', 1) for item in options), work_dir)
    runner = build_runner(cfg)
    runner.register_hook(_Crash())
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))
    # Ctrl-C after a complete save: last_checkpoint names it
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'epoch_1.pth')

    result = run_tool(['tools/train.py', TINY_CFG, '--work-dir', work_dir, '--resume',
                       '--allow-weak-stage1', '--cfg-options'] + options)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'resumed' in (result.stdout + result.stderr).lower()
    ckpt = torch.load(osp.join(work_dir, f'epoch_{MAX_EPOCHS}.pth'), map_location='cpu',
                      weights_only=False)
    assert ckpt['meta']['iter'] == MAX_EPOCHS * ITERS_PER_EPOCH
    assert ckpt['meta']['epoch'] == MAX_EPOCHS
    # validation ran with both metrics and the best checkpoint by seed mIoU is kept
    best = [f for f in os.listdir(work_dir) if f.startswith('best_seed_mIoU')]
    assert len(best) == 1


def test_one_epoch_console_is_short_and_the_config_goes_to_the_work_dir(tiny_demo_root, tmp_path,
                                                                        capfd):
    work_dir = str(tmp_path / 'quiet')
    options = dict(_cfg_options_dict(tiny_demo_root), **{'train_cfg.max_epochs': 1})
    build_runner(load_config(TINY_CFG, options, work_dir)).train()
    out, err = capfd.readouterr()
    console = (out + err).splitlines()
    assert len(console) < 60, '\n'.join(console)
    assert not any(line.startswith(('Config:', 'System environment')) for line in console)
    assert any('environment, config and hooks:' in line for line in console)
    # the full config and the environment stay in the run's log file and the work dir
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    with open(logs[0]) as f:
        log = f.read()
    assert 'System environment:' in log and 'Config:' in log and 'Hooks will be executed' in log
    assert osp.isfile(osp.join(work_dir, osp.basename(TINY_CFG)))


@pytest.mark.skipif(not torch.distributed.is_available(), reason='torch.distributed missing')
def test_dist_train_two_processes_gloo(tiny_demo_root, tmp_path):
    work_dir = str(tmp_path / 'dist')
    result = run_tool(['tools/dist_train.sh', TINY_CFG, '2', '--work-dir', work_dir,
                       '--allow-weak-stage1', '--cfg-options', 'train_cfg.max_epochs=1',
                       'train_cfg.val_interval=1']
                      + _options(tiny_demo_root))
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'nccl -> gloo' in log or torch.cuda.is_available()
    ckpt = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu', weights_only=False)
    # 16 images over 2 ranks with batch 4: 2 iterations per epoch on each rank
    assert ckpt['meta']['iter'] == ITERS_PER_EPOCH // 2
    cfg = load_config(TINY_CFG, _cfg_options_dict(tiny_demo_root), str(tmp_path / 'load'))
    cfg.load_from = osp.join(work_dir, 'epoch_1.pth')
    runner = build_runner(cfg)
    runner.load_or_resume()
    state = runner.model.state_dict()
    for key, value in ckpt['state_dict'].items():
        assert torch.equal(state[key], value), key
