"""Fixtures of the benchmark-script tests: the scripts of ``benchmarks/`` imported as modules
(with ``benchmarks/`` on ``sys.path`` while a test module uses them: they import their siblings)."""
import importlib
import os.path as osp
import sys

import pytest

BENCH = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'benchmarks')


def _script(name):
    sys.path.insert(0, BENCH)
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(BENCH)


@pytest.fixture(scope='module')
def prof():
    """``benchmarks/profile_seed_cpu.py``."""
    yield from _script('profile_seed_cpu')


@pytest.fixture(scope='module')
def probe():
    """``benchmarks/probe_frozen_features.py``."""
    yield from _script('probe_frozen_features')
