"""Config scopes without importing the plugin: the installed mmseg_mctformer_scopes.pth."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig

import mmseg
import pytest

from mmseg_mctformer.stack import installed_distributions

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEEPLAB = osp.join(ROOT, 'configs', 'deeplabv3plus',
                   'deeplabv3plus_vit-s14-frozen_1xb16-1500it_demo-pseudo-112x112.py')
MMSEG_TRAIN = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')


def _python(code, site_dir=None, args=(), timeout=300, no_pth=False):
    """Run ``code`` in a fresh interpreter; ``site_dir`` is processed as a site-packages folder
    (its .pth files run), as the installed package's is. ``no_pth``: site-packages is put on the
    path without running its .pth files (an environment without our start-up file)."""
    prelude = 'import site, sys\n'
    if no_pth:
        prelude += f"sys.path.append({sysconfig.get_paths()['purelib']!r})\n"
    if site_dir is not None:
        prelude += f'site.addsitedir({str(site_dir)!r})\n'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}
    env.update(PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    flags = ['-S'] if no_pth else []
    return subprocess.run([sys.executable, *flags, '-c', prelude + code, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _without_pkg_resources_warnings(stderr):
    """The lines of ``stderr`` but setuptools' "pkg_resources is deprecated" warnings (each a
    message line and its indented source line), which upstream mmengine's imports cause."""
    kept, skip_source = [], False
    for line in stderr.splitlines():
        if 'pkg_resources is deprecated' in line:
            skip_source = True
        elif skip_source and line.startswith('  '):
            skip_source = False
        else:
            kept.append(line)
            skip_source = False
    return kept


@pytest.fixture
def site_dir(tmp_path):
    shutil.copy(osp.join(ROOT, 'mmseg_mctformer_scopes.pth'), tmp_path)
    return tmp_path


def test_mmseg_and_own_scope_resolve_before_the_plugin_is_imported(site_dir, tmp_path):
    cfg_file = tmp_path / 'user_cfg.py'
    cfg_file.write_text(
        "_base_ = ['mmseg_mctformer::_base_/models/mctformer-plus_deit-s.py',\n"
        "          'mmseg_mctformer::_base_/default_runtime.py']\n"
        'model = dict(backbone=dict(init_cfg=None))\n')
    code = (
        'from mmengine.config import Config\n'
        f'deeplab = Config.fromfile({DEEPLAB!r}, import_custom_modules=False)\n'
        f'cfg = Config.fromfile({str(cfg_file)!r}, import_custom_modules=False)\n'
        "assert 'mmseg_mctformer' not in sys.modules\n"
        'from mmengine.registry import init_default_scope\n'
        'from mmseg.registry import MODELS\n'
        'import mmseg_mctformer\n'
        "init_default_scope('mmseg')\n"
        'print(deeplab.model.type, type(MODELS.build(cfg.model)).__name__)\n')
    result = _python(code, site_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    # and a quiet console: no OneDL prints, no mmcv-lite warning, no registry fallback warnings;
    # upstream mmengine imports pkg_resources, whose deprecation warning setuptools prints
    assert result.stdout == 'EncoderDecoder MCTformer\n'
    assert _without_pkg_resources_warnings(result.stderr) == []
    # without the .pth, mmengine looks for a distribution called mmsegmentation: there only on
    # the upstream stack, where `mmseg::` needs nothing of ours
    without = _python(f'from mmengine.config import Config\nConfig.fromfile({DEEPLAB!r})',
                      no_pth=True)
    if 'mmsegmentation' in installed_distributions('mmseg'):
        assert without.returncode == 0, without.stderr[-3000:]
    else:
        assert without.returncode != 0 and 'mmsegmentation is not installed' in without.stderr


@pytest.mark.skipif(not osp.isfile(MMSEG_TRAIN), reason='MMSeg ships no .mim/tools/train.py')
def test_mmseg_own_train_tool_reads_our_deeplab_config(site_dir, tmp_path, tiny_demo_root):
    options = [f'{k}.dataset.data_root={tiny_demo_root}'
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options += ['train_dataloader.dataset.data_prefix.seg_map_path=SegmentationClassAug',
                'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
                'default_hooks.checkpoint.interval=1', 'train_dataloader.batch_size=2',
                'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False']
    code = f'import runpy\nrunpy.run_path({MMSEG_TRAIN!r}, run_name="__main__")\n'
    result = _python(code, site_dir, args=[
        osp.join(ROOT, 'tests', 'data', 'tiny_deeplab_demo.py'), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *options])
    assert result.returncode == 0, result.stderr[-3000:]
    assert osp.isfile(tmp_path / 'work' / 'iter_1.pth')


def test_own_scope_found_where_python_imports_the_package(tmp_path):
    """An editable install has no mmseg_mctformer/ under site-packages, where upstream mmengine's
    get_installed_path looks: the wrapper falls back to the import location, for our scope only."""
    import importlib.util

    import mmseg_mctformer_scopes
    missing = str(tmp_path / 'site-packages' / 'mmseg_mctformer')
    wrapped = mmseg_mctformer_scopes.own_installed_path(lambda package: missing)
    package_dir = osp.dirname(importlib.util.find_spec('mmseg_mctformer').origin)
    assert wrapped('mmseg_mctformer') == package_dir
    assert wrapped('mmsegmentation') == missing  # other scopes: mmengine's answer
    assert mmseg_mctformer_scopes.own_installed_path(wrapped) is wrapped  # patched once
    existing = str(tmp_path)
    assert mmseg_mctformer_scopes.own_installed_path(lambda p: existing)('mmseg_mctformer') \
        == existing
