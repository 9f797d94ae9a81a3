import logging
import os
import os.path as osp
import subprocess
import sys

from mmseg_mctformer.utils.console import DropParamwiseOptions, quiet_imports

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_quiet_imports_drops_only_the_onedl_line(capsys):
    with quiet_imports():
        print('Could not import OneDL')
        print('something else')
    assert capsys.readouterr().out == 'something else\n'


def test_paramwise_lines_are_dropped():
    make = logging.LogRecord
    keep = make('x', logging.INFO, '', 0, 'Epoch(train) [1][1/4]', None, None)
    drop = make('x', logging.INFO, '', 0, 'paramwise_options -- cls_token:lr=0.003', None, None)
    assert DropParamwiseOptions().filter(keep) and not DropParamwiseOptions().filter(drop)


def test_import_is_silent():
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}
    env.update(PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', 'import mmseg_mctformer'], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout == '' and result.stderr == ''
