"""Installation of the mmseg_mctformer plugin.

``pip install -e .`` installs the exact runtime pins of ``requirements/runtime.txt``. mmcv is
deliberately not a requirement: pip would otherwise put ``mmcv-lite`` over a compiled ``mmcv``
(both own
``mmcv/``). The README's ``make setup`` installs ``requirements/nodeps.txt`` (mmcv-lite, the demo
weights) with ``--no-deps``.
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
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(tests=read_requirements('tests.txt')),
    license='Apache License 2.0',
    zip_safe=False,
)
