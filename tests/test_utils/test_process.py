"""die_with_parent: a rank whose launcher is killed with -9 ends too; log_termination: a SIGTERM
leaves a line in the run's log."""
import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

_CHILD = textwrap.dedent('''
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location(
        'process', sys.argv[1] + '/mmseg_mctformer/utils/process.py')
    process = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(process)
    process.die_with_parent(interval=0.2)
    open(sys.argv[2], 'w').close()
    time.sleep(300)
''')
_PARENT = textwrap.dedent('''
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, '-c', sys.argv[1]] + sys.argv[2:])
    print(child.pid, flush=True)
    time.sleep(300)
''')


def _alive(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            return not any(line.startswith('State:') and 'Z' in line.split()[1] for line in f)
    except FileNotFoundError:
        return False


def test_child_dies_with_its_killed_parent(tmp_path):
    ready = str(tmp_path / 'ready')
    parent = subprocess.Popen([sys.executable, '-c', _PARENT, _CHILD, ROOT, ready],
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        deadline = time.time() + 120
        while not osp.exists(ready) and time.time() < deadline:
            time.sleep(0.1)
        assert osp.exists(ready), 'the child did not start'
        assert _alive(child)
        parent.kill()  # kill -9 of the launcher
        parent.wait()
        deadline = time.time() + 20
        while _alive(child) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()


_TERMINATED = textwrap.dedent('''
    import importlib.util, os, signal, sys, time
    from unittest import mock
    from mmengine.logging import MMLogger
    spec = importlib.util.spec_from_file_location(
        'process', sys.argv[1] + '/mmseg_mctformer/utils/process.py')
    process = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(process)
    work_dir = sys.argv[2]
    logger = MMLogger.get_instance('terminated', log_file=os.path.join(work_dir, 'run.log'))
    runner = mock.MagicMock(work_dir=work_dir, logger=logger, epoch=1, iter=7)
    assert process.log_termination(runner) == [signal.SIGTERM]
    for step in range(100):  # the training loop
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
    print('not terminated')
''')


def test_sigterm_mid_iteration_leaves_a_log_line(tmp_path):
    with open(tmp_path / 'last_checkpoint', 'w') as f:
        f.write(str(tmp_path / 'epoch_1.pth'))
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', _TERMINATED, ROOT, str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGTERM, result.stderr[-2000:]
    assert 'not terminated' not in result.stdout
    log = (tmp_path / 'run.log').read_text()
    assert 'received SIGTERM at epoch 1, iteration 7: stopping; --resume continues from ' + \
        str(tmp_path / 'epoch_1.pth') in log
