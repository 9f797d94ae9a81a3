import importlib.util
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_mctformer_demo.py')
TINY_SEG_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_deeplab_demo.py')


def data_root_options(root):
    """--cfg-options entries pointing every dataloader of the tiny config at ``root``."""
    keys = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'pseudo_label_dataloader')
    return [f'{k}.dataset.data_root={root}' for k in keys]


def load_tool(name):
    """The module ``tools/{name}.py``, imported in this process (its ``main(argv)`` callable)."""
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(args, timeout=600, **kwargs):
    """Run ``python tools/...`` (or a shell script) from the repo root; return the result."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1', PYTHON=sys.executable,
               MASTER_PORT='29517', PORT='29517')
    cmd = args if args[0].endswith('.sh') else [sys.executable] + args
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, **kwargs)
