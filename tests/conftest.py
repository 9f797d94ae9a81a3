"""Fixtures shared by the test packages."""
import os.path as osp

import pytest


@pytest.fixture(scope='session')
def tiny_demo_root(tmp_path_factory):
    """A 16 + 4 image demo dataset at 32 px."""
    from mmseg_mctformer.datasets.demo_generator import FASHION_MNIST_DIR, generate_demo_dataset
    if not osp.isdir(FASHION_MNIST_DIR):
        pytest.skip(f'Fashion-MNIST missing at {FASHION_MNIST_DIR} (Debian dataset-fashion-mnist)')
    root = str(tmp_path_factory.mktemp('tiny_demo') / 'demo')
    generate_demo_dataset(root, num_train=16, num_val=4, img_size=32)
    return root
