"""ReproducibilityHook: a killed-and-resumed run repeats the uninterrupted one on CPU."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook

from mmseg_mctformer.engine.hooks import derive_seed, seeded_worker_init_fn
from mmseg_mctformer.engine.runner import build_runner, load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(ROOT, 'tests', 'data', 'tiny_mctformer_demo.py')
ITERS_PER_EPOCH = 4  # 16 images, batch 4


def test_derive_seed_is_stable_and_separates_its_keys():
    assert derive_seed(0, 1, 0) == derive_seed(0, 1, 0)
    seeds = {derive_seed(0, e, r) for e in range(4) for r in range(2)}
    assert len(seeds) == 8 and all(0 <= s < 2**32 for s in seeds)


def test_worker_seeds_follow_torch_worker_seed_and_rank():
    def draws(base, rank):
        torch.manual_seed(base)  # in a worker: base_seed (drawn per epoch) + worker id
        seeded_worker_init_fn(0, rank=rank)
        return np.random.rand(), torch.rand(1).item()
    assert draws(5, 0) == draws(5, 0)
    assert draws(5, 0) != draws(6, 0) and draws(5, 0) != draws(5, 1)


class _Crash(Hook):
    """Interrupts the run in the middle of epoch 2, after epoch_1.pth was saved."""

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == ITERS_PER_EPOCH + 2:
            raise KeyboardInterrupt('simulated kill')


class _Losses(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.losses = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses[runner.iter] = float(outputs['loss'])


def _train(root, work_dir, name, hooks=(), resume=False):
    options = {f'{k}.dataset.data_root': root for k in (
        'train_dataloader', 'val_dataloader', 'test_dataloader', 'pseudo_label_dataloader')}
    # augmentations in the main process (num_workers=0, the tiny config's): they draw from the
    # global generators that a resumed run used to start afresh
    options.update({'train_cfg.max_epochs': 2, 'train_cfg.val_interval': 1, 'randomness.seed': 3,
                    'experiment_name': name, 'log_level': 'WARNING'})
    runner = build_runner(load_config(TINY_CFG, options, work_dir, resume=resume))
    losses = _Losses()
    for hook in (*hooks, losses):
        runner.register_hook(hook)
    runner.train()
    return runner, losses.losses


def test_killed_and_resumed_run_repeats_the_uninterrupted_one(tiny_demo_root, tmp_path):
    straight, straight_losses = _train(tiny_demo_root, str(tmp_path / 'a'), 'seed_hook_a')
    work = str(tmp_path / 'b')
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_demo_root, work, 'seed_hook_b', hooks=[_Crash()])
    resumed, resumed_losses = _train(tiny_demo_root, work, 'seed_hook_c', resume=True)
    assert resumed.iter == straight.iter == 2 * ITERS_PER_EPOCH
    # the resumed run starts at epoch 2 and logs the same losses as the uninterrupted run
    assert sorted(resumed_losses) == list(range(ITERS_PER_EPOCH, 2 * ITERS_PER_EPOCH))
    assert resumed_losses == {i: straight_losses[i] for i in resumed_losses}
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_iteration_loop_fetch_is_seeded_by_its_iteration():
    """The batch of iteration k (fetched before the iteration's hooks) is drawn with the same
    random state in an uninterrupted run and in a run resumed at k (mmengine skips the trained
    batches at the sampler, without fetching them)."""
    from unittest import mock

    from mmseg_mctformer.engine.hooks import ReproducibilityHook
    from mmseg_mctformer.engine.hooks.reproducibility_hook import SeededFetches

    class Augment:  # a data iterator whose batches draw from the global random state
        def __next__(self):
            return float(np.random.rand())

    def loop_runner():
        loop = mock.MagicMock(iter=0, dataloader_iterator=Augment())
        runner = mock.MagicMock(seed=5, train_loop=loop)
        runner.train_dataloader = mock.MagicMock(num_workers=0, sampler=None, batch_sampler=None)
        ReproducibilityHook().before_train(runner)
        assert isinstance(loop.dataloader_iterator, SeededFetches)
        return loop

    uninterrupted = loop_runner()
    drawn = []
    for k in range(4):
        uninterrupted.iter = k
        drawn.append(next(uninterrupted.dataloader_iterator))
        torch.rand(3)  # the step's own randomness (dropout ...)
    resumed = loop_runner()
    resumed.iter = 3
    np.random.rand(7)  # whatever a fresh process drew before
    assert next(resumed.dataloader_iterator) == drawn[3]


def test_old_registry_name_builds_the_same_hook_with_a_deprecation_warning(monkeypatch):
    from mmseg.registry import HOOKS

    import mmseg_mctformer.engine.hooks.reproducibility_hook as module
    messages = []
    monkeypatch.setattr(module, 'print_log', lambda msg, **kwargs: messages.append(msg))
    assert type(HOOKS.build(dict(type='ReproducibilityHook'))) is module.ReproducibilityHook
    assert messages == []
    hook = HOOKS.build(dict(type='ReproducibleSeedHook'))
    assert isinstance(hook, module.ReproducibilityHook)
    assert len(messages) == 1 and 'deprecated' in messages[0]
    assert 'ReproducibilityHook' in messages[0]
