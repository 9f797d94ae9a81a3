"""AtomicCheckpointHook: kill -9, SIGTERM, Ctrl-C and a full disk mid-save lose nothing."""
import errno
import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.hooks import Hook

from mmseg_mctformer.engine.hooks import AtomicCheckpointHook, deferred_signals
from mmseg_mctformer.engine.runner import build_runner, load_config
from mmseg_mctformer.utils.checkpoint import find_resume_checkpoint, is_complete_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_mctformer_demo.py')

# Saves epoch_1 with a mocked runner, then dies in the middle of saving epoch_2 (max_keep_ckpts=1):
# one forked child per way of dying, so that the imports are paid once
_SCRIPT = textwrap.dedent('''
    import os, signal, sys
    from unittest import mock
    import torch
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.runner.checkpoint import save_checkpoint
    from mmseg_mctformer.engine.hooks import AtomicCheckpointHook

    def probe(work_dir, how):
        runner = mock.MagicMock(work_dir=work_dir, epoch=0, iter=0,
                                message_hub=MessageHub.get_instance('probe_' + how),
                                logger=MMLogger.get_instance('probe_' + how))
        runner.save_checkpoint = lambda out_dir, filename, backend_args=None, **kw: \\
            save_checkpoint(dict(state_dict=dict(w=torch.full((1000, ), float(runner.epoch)))),
                            os.path.join(out_dir, filename), backend_args=backend_args)
        hook = AtomicCheckpointHook(interval=1, max_keep_ckpts=1)
        hook.before_train(runner)
        hook._save_checkpoint(runner)  # epoch_1.pth
        runner.epoch = 1
        real_fsync = os.fsync
        def fsync(fd):  # the new checkpoint is on its way to the disk
            os.kill(os.getpid(), signal.SIGKILL if how == 'kill' else signal.SIGTERM)
            real_fsync(fd)
        os.fsync = fsync
        hook._save_checkpoint(runner)  # epoch_2.pth

    for how, work_dir in zip(sys.argv[1::2], sys.argv[2::2]):
        pid = os.fork()
        if pid == 0:
            probe(work_dir, how)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print('PROBE', how, os.WTERMSIG(status) if os.WIFSIGNALED(status) else 'exit')
''')


@pytest.fixture(scope='module')
def probes(tmp_path_factory):
    """Work dirs of a save killed by SIGKILL and of one hit by SIGTERM, and how each ended."""
    dirs = {how: str(tmp_path_factory.mktemp(how)) for how in ('kill', 'term')}
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    args = [a for how, d in dirs.items() for a in (how, d)]
    result = subprocess.run([sys.executable, '-c', _SCRIPT] + args, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ends = dict(line.split()[1:] for line in result.stdout.splitlines()
                if line.startswith('PROBE '))
    return {how: (d, ends[how]) for how, d in dirs.items()}


def _marker(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read()


def test_kill_9_mid_save_keeps_the_previous_checkpoint(probes):
    work, end = probes['kill']
    assert end == str(int(signal.SIGKILL))
    # the old checkpoint was not removed before the new one was complete
    assert _marker(work) == osp.join(work, 'epoch_1.pth')
    assert is_complete_checkpoint(osp.join(work, 'epoch_1.pth'))
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))
    tmp = [f for f in os.listdir(work) if f.endswith('.tmp')]
    assert len(tmp) == 1 and tmp[0].startswith('.epoch_2.pth.')
    assert find_resume_checkpoint(work) == osp.join(work, 'epoch_1.pth')
    # the next run removes the leftover
    runner = type('R', (), dict(work_dir=work, logger=type('L', (), dict(
        info=lambda *a: None, warning=lambda *a: None))(), message_hub=None))()
    hook = AtomicCheckpointHook(interval=1)
    hook.before_train(runner)
    assert not [f for f in os.listdir(work) if f.endswith('.tmp')]


def test_sigterm_mid_save_finishes_the_save_first(probes):
    work, end = probes['term']
    assert end == str(int(signal.SIGTERM))  # the signal still ends the process, after the save
    assert _marker(work) == osp.join(work, 'epoch_2.pth')
    assert is_complete_checkpoint(osp.join(work, 'epoch_2.pth'))
    assert sorted(os.listdir(work)) == ['epoch_2.pth', 'last_checkpoint']


def test_deferred_signals_delivers_after_the_body():
    seen = []
    old = signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a shell
    try:
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            assert seen == []
        assert seen == [signal.SIGTERM]
        with pytest.raises(KeyboardInterrupt):
            with deferred_signals():
                os.kill(os.getpid(), signal.SIGINT)
                seen.append('body finished')
        assert seen[-1] == 'body finished'
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGINT, old_int)


class _DiskFull(Hook):
    """Makes the disk full once epoch ``epoch`` is being saved."""
    priority = 'HIGHEST'

    def __init__(self, monkeypatch, epoch):
        self.monkeypatch, self.epoch = monkeypatch, epoch

    def before_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:
            def fsync(fd):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.monkeypatch.setattr(os, 'fsync', fsync)


def test_disk_full_mid_save_then_resume(tiny_demo_root, tmp_path, monkeypatch):
    options = {f'{k}.dataset.data_root': tiny_demo_root for k in (
        'train_dataloader', 'val_dataloader', 'test_dataloader', 'pseudo_label_dataloader')}
    options.update({'train_cfg.max_epochs': 2, 'train_cfg.val_interval': 2,
                    'default_hooks.checkpoint.max_keep_ckpts': 1})
    work = str(tmp_path / 'work')
    runner = build_runner(load_config(TINY_CFG, options, work))
    runner.register_hook(_DiskFull(monkeypatch, epoch=2))
    with pytest.raises(OSError, match=r'cannot write .*epoch_2\.pth: No space left'):
        runner.train()
    monkeypatch.undo()
    assert _marker(work) == osp.join(work, 'epoch_1.pth')
    assert is_complete_checkpoint(osp.join(work, 'epoch_1.pth'))
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))
    assert not [f for f in os.listdir(work) if f.endswith('.tmp')]

    cfg = load_config(TINY_CFG, options, work, resume=True)
    assert cfg.load_from == osp.join(work, 'epoch_1.pth')
    build_runner(cfg).train()
    ckpt = torch.load(osp.join(work, 'epoch_2.pth'), map_location='cpu', weights_only=False)
    assert ckpt['meta']['epoch'] == 2
    assert not osp.exists(osp.join(work, 'epoch_1.pth'))  # max_keep_ckpts=1, after the save
    assert _marker(work) == osp.join(work, 'epoch_2.pth')


def test_resume_in_copied_work_dir_removes_nothing_outside_it(tmp_path):
    """The message hub of a checkpoint copied with its work dir names the original's best
    checkpoint: a new best replaces the copy's, the original's stays."""
    from unittest import mock

    from mmengine.logging import MessageHub, MMLogger
    from mmengine.runner.checkpoint import save_checkpoint
    orig, copy = tmp_path / 'orig', tmp_path / 'copy'
    orig.mkdir()
    (orig / 'best_acc_epoch_1.pth').write_bytes(b'original best')
    copy.mkdir()
    (copy / 'best_acc_epoch_1.pth').write_bytes(b'copied best')
    hub = MessageHub.get_instance('copied_work_dir')
    hub.update_info('best_ckpt', str(orig / 'best_acc_epoch_1.pth'))
    runner = mock.MagicMock(work_dir=str(copy), epoch=2, iter=8, message_hub=hub,
                            logger=MMLogger.get_instance('copied_work_dir'))
    runner.save_checkpoint = lambda out_dir, filename, backend_args=None, **kw: \
        save_checkpoint(dict(state_dict=dict(w=torch.zeros(1))), osp.join(out_dir, filename),
                        backend_args=backend_args)
    hook = AtomicCheckpointHook(interval=1, save_best='acc', rule='greater')
    hook.before_train(runner)
    assert hook.best_ckpt_path == str(copy / 'best_acc_epoch_1.pth')
    hook._save_best_checkpoint(runner, dict(acc=0.9))
    assert (orig / 'best_acc_epoch_1.pth').read_bytes() == b'original best'
    assert not (copy / 'best_acc_epoch_1.pth').exists()
    assert (copy / 'best_acc_epoch_2.pth').exists()
