"""Config scopes: set by ``import mmseg_mctformer``; before it only with the opt-in start-up file.

Every interpreter here runs with ``-S`` and site-packages appended to ``sys.path`` without running
its ``.pth`` files, so that nothing installed in the environment sets the scopes behind the test's
back; ``site_dir`` is then processed as a site-packages folder (its ``.pth`` files run).
"""
import os
import os.path as osp
import shutil
import stat
import subprocess
import sys
import sysconfig

import mmseg
import pytest

from mmseg_mctformer.stack import installed_distributions
from mmseg_mctformer.utils.config_scopes import (
    MARK,
    PTH_NAME,
    install_pth,
    own_installed_path,
    pth_line,
    remove_pth,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEEPLAB = osp.join(ROOT, 'configs', 'deeplabv3plus',
                   'deeplabv3plus_vit-s14-frozen_1xb16-1500it_demo-pseudo-112x112.py')
STAGE1 = osp.join(ROOT, 'configs', 'mctformer', 'mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py')
MMSEG_TRAIN = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
ON_FORKS = 'mmsegmentation' not in installed_distributions('mmseg')
#: What a fresh interpreter prints about the scopes before and after ``import mmseg_mctformer``.
REPORT_SCOPES = (
    'import mmengine.config.utils as u\n'
    "print('own' if 'mmseg_mctformer' in u.MODULE2PACKAGE else 'none', u.MODULE2PACKAGE['mmseg'],"
    " sum(bool(getattr(f, {mark!r}, False)) for f in sys.meta_path))\n").format(mark=MARK)


def _python(code, site_dir=None, args=(), timeout=600):
    """Run ``code`` in a fresh interpreter (module docstring); return the finished process."""
    prelude = 'import site, sys\n'
    prelude += f"sys.path.append({sysconfig.get_paths()['purelib']!r})\n"
    if site_dir is not None:
        prelude += f'site.addsitedir({str(site_dir)!r})\n'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}
    env.update(PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-S', '-c', prelude + code, *args], cwd=ROOT, env=env,
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


def _user_config(tmp_path, *lines):
    cfg_file = tmp_path / 'user_cfg.py'
    cfg_file.write_text('\n'.join(lines) + '\n')
    return str(cfg_file)


@pytest.fixture
def site_dir(tmp_path):
    """A site-packages folder holding the opt-in start-up file (``--install-pth``)."""
    folder = tmp_path / 'site'
    folder.mkdir()
    install_pth(str(folder))
    return folder


def test_plugin_import_sets_the_scopes_and_installs_no_hook(tmp_path):
    cfg_file = _user_config(
        tmp_path, "_base_ = ['mmseg_mctformer::_base_/models/mctformer-plus_deit-s.py',",
        "          'mmseg_mctformer::_base_/default_runtime.py']",
        'model = dict(backbone=dict(init_cfg=None))')
    code = (
        REPORT_SCOPES + 'import mmseg_mctformer\n' + REPORT_SCOPES
        + 'from mmengine.config import Config\n'
        f'deeplab = Config.fromfile({DEEPLAB!r})\n'
        f'cfg = Config.fromfile({cfg_file!r})\n'
        'from mmengine.registry import init_default_scope\n'
        'from mmseg.registry import MODELS\n'
        "init_default_scope('mmseg')\n"
        'print(deeplab.model.type, type(MODELS.build(cfg.model)).__name__)\n')
    result = _python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    installed = next(iter(installed_distributions('mmseg')))
    # before the import: mmengine's own table, no sys.meta_path entry; after: both scopes
    assert result.stdout.splitlines() == ['none mmsegmentation 0', f'own {installed} 0',
                                          'EncoderDecoder MCTformer']


def test_a_tool_reading_the_config_first_needs_the_startup_file(tmp_path):
    """What MMSeg's own tools/train.py does (Config.fromfile, then custom_imports) without the
    opt-in file: our scope is unknown to mmengine, and on the OneDL forks so is `mmseg::`; bases
    given as paths work, custom_imports then imports the plugin."""
    scoped = _user_config(
        tmp_path, "_base_ = ['mmseg_mctformer::mctformer/"
        "mctformer-plus_dinov2-s_1xb32-2e_demo-112x112.py']",
        "custom_imports = dict(imports=['mmseg_mctformer'], allow_failed_imports=False)")
    read = 'from mmengine.config import Config\nConfig.fromfile(sys.argv[1])\n'
    result = _python(read, args=[scoped])
    assert result.returncode != 0
    assert 'mmengine does not support to load mmseg_mctformer config' in result.stderr
    # without the .pth, mmengine looks for a distribution called mmsegmentation: there only on
    # the upstream stack, where `mmseg::` needs nothing of ours
    without = _python(read, args=[DEEPLAB])
    if not ON_FORKS:
        assert without.returncode == 0, without.stderr[-3000:]
    else:
        assert without.returncode != 0 and 'mmsegmentation is not installed' in without.stderr
    by_path = tmp_path / 'by_path.py'
    by_path.write_text(f'_base_ = [{STAGE1!r}]\n')
    result = _python('from mmengine.config import Config\ncfg = Config.fromfile(sys.argv[1])\n'
                     "print(cfg.model.type, 'mmseg_mctformer' in sys.modules)\n",
                     args=[str(by_path)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == 'MCTformer True\n'


def test_mmseg_and_own_scope_resolve_before_the_plugin_is_imported(site_dir, tmp_path):
    cfg_file = _user_config(
        tmp_path, "_base_ = ['mmseg_mctformer::_base_/models/mctformer-plus_deit-s.py',",
        "          'mmseg_mctformer::_base_/default_runtime.py']",
        'model = dict(backbone=dict(init_cfg=None))')
    code = (
        'from mmengine.config import Config\n'
        f'deeplab = Config.fromfile({DEEPLAB!r}, import_custom_modules=False)\n'
        f'cfg = Config.fromfile({cfg_file!r}, import_custom_modules=False)\n'
        "assert 'mmseg_mctformer' not in sys.modules\n"
        'from mmengine.registry import init_default_scope\n'
        'from mmseg.registry import MODELS\n'
        'import mmseg_mctformer\n'
        "init_default_scope('mmseg')\n"
        'print(deeplab.model.type, type(MODELS.build(cfg.model)).__name__)\n'
        # the package's copy of the module patches nothing a second time
        f'print(sum(bool(getattr(f, {MARK!r}, False)) for f in sys.meta_path))\n'
        'import mmengine.config.config as c\n'
        f"print(getattr(c.get_installed_path.__wrapped__, {MARK!r}, False))\n")
    result = _python(code, site_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    # and a quiet console: no OneDL prints, no mmcv-lite warning, no registry fallback warnings;
    # upstream mmengine imports pkg_resources, whose deprecation warning setuptools prints
    assert result.stdout == 'EncoderDecoder MCTformer\n1\nFalse\n'
    assert _without_pkg_resources_warnings(result.stderr) == []


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


def test_startup_file_is_written_atomically_and_removed(tmp_path):
    target = install_pth(str(tmp_path))
    assert target == str(tmp_path / PTH_NAME)
    install_pth(str(tmp_path))  # replaced, not appended to
    with open(target, encoding='ascii') as f:
        assert f.read() == pth_line()
    assert os.listdir(tmp_path) == [PTH_NAME]  # no temporary file left
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert remove_pth(str(tmp_path)) == target and os.listdir(tmp_path) == []
    assert remove_pth(str(tmp_path)) is None
    with pytest.raises(OSError, match=rf'cannot write .*nope.*{PTH_NAME}.*--site-dir'):
        install_pth(str(tmp_path / 'nope'))


def test_startup_file_of_an_uninstalled_plugin_does_nothing(tmp_path):
    (tmp_path / PTH_NAME).write_text(pth_line(str(tmp_path / 'gone' / 'config_scopes.py')))
    result = _python(REPORT_SCOPES, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _without_pkg_resources_warnings(result.stderr) == []
    assert result.stdout == 'none mmsegmentation 0\n'


def test_config_scopes_tool_installs_reports_and_removes(tmp_path, capsys):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import config_scopes as tool
    finally:
        sys.path.pop(0)
    site = str(tmp_path)
    tool.main(['--site-dir', site])
    tool.main(['--install-pth', '--site-dir', site])
    tool.main(['--site-dir', site])
    (tmp_path / PTH_NAME).write_text(pth_line('/elsewhere/config_scopes.py'))
    tool.main(['--site-dir', site])
    tool.main(['--remove-pth', '--site-dir', site])
    tool.main(['--remove-pth', '--site-dir', site])
    target = osp.join(site, PTH_NAME)
    assert capsys.readouterr().out.splitlines() == [
        f'not installed: {target} does not exist', f'wrote {target}', f'installed: {target}',
        f'installed: {target} (it loads another copy of the plugin: run --install-pth to point '
        'it at this one)', f'removed {target}', f'no {PTH_NAME} in {site}']
    with pytest.raises(SystemExit):
        tool.parse_args(['--install-pth', '--remove-pth'])


def test_pip_install_puts_no_startup_file_into_site_packages(tmp_path):
    """``pip install -e . --no-deps`` into an environment that sees this one's packages (a path
    line, whose folder's .pth files do not run): the plugin sets the scopes when imported, and
    nothing of ours runs in an interpreter that does not import it."""
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'pyproject.toml', 'README.md', 'requirements', 'mmseg_mctformer',
                 'configs'):
        copy = shutil.copytree if osp.isdir(osp.join(ROOT, name)) else shutil.copy
        kwargs = dict(symlinks=True, ignore=shutil.ignore_patterns('__pycache__')) \
            if copy is shutil.copytree else {}
        copy(osp.join(ROOT, name), src / name, **kwargs)
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    purelib = subprocess.run([python, '-c', "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True,
                             check=True).stdout.strip()
    with open(osp.join(purelib, 'zz_outer_site.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONWARNINGS')}
    env.update(OMP_NUM_THREADS='1', PIP_DISABLE_PIP_VERSION_CHECK='1')
    pip = subprocess.run([python, '-m', 'pip', 'install', '-q', '--no-deps',
                          '--no-build-isolation', '--no-index', '-e', str(src)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    # setuptools' editable finder and the path line of this test, nothing else
    pth_files = [name for name in os.listdir(purelib) if name.endswith('.pth')]
    assert [name for name in pth_files if not name.startswith('__editable__.')] == [
        'zz_outer_site.pth']
    result = subprocess.run(
        [python, '-c', 'import sys\n' + REPORT_SCOPES + 'import mmseg_mctformer\n' + REPORT_SCOPES
         + 'print(mmseg_mctformer.__file__)'], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    installed = next(iter(installed_distributions('mmseg')))
    assert result.stdout.splitlines() == [
        'none mmsegmentation 0', f'own {installed} 0',
        str(src / 'mmseg_mctformer' / '__init__.py')]


def test_own_scope_found_where_python_imports_the_package(tmp_path):
    """An editable install has no mmseg_mctformer/ under site-packages, where upstream mmengine's
    get_installed_path looks: the wrapper falls back to the import location, for our scope only."""
    import importlib.util

    missing = str(tmp_path / 'site-packages' / 'mmseg_mctformer')
    wrapped = own_installed_path(lambda package: missing)
    package_dir = osp.dirname(importlib.util.find_spec('mmseg_mctformer').origin)
    assert wrapped('mmseg_mctformer') == package_dir
    assert wrapped('mmsegmentation') == missing  # other scopes: mmengine's answer
    assert own_installed_path(wrapped) is wrapped  # patched once
    existing = str(tmp_path)
    assert own_installed_path(lambda p: existing)('mmseg_mctformer') == existing
