"""Random state (Python, NumPy, torch) as a function of (seed, epoch): a resumed run repeats the
uninterrupted one.

The random-number seeds of this module are not the seed masks of the localisation maps
(``models/utils/seed.py``).
"""
import hashlib
import logging
import random
from functools import partial

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import DistSamplerSeedHook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import HOOKS


def derive_seed(*keys) -> int:
    """A 32-bit seed from any tuple of ints / strings (stable across processes and runs)."""
    digest = hashlib.sha256(repr(tuple(keys)).encode()).digest()
    return int.from_bytes(digest[:4], 'little')


def seed_all(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def seeded_worker_init_fn(worker_id: int, rank: int = 0) -> None:
    """Seed a dataloader worker from the seed torch gave it.

    torch seeds worker ``i`` with ``base_seed + i``, ``base_seed`` drawn from the main process's
    generator when the epoch's iterator is created. With that generator re-seeded per epoch
    (:class:`ReproducibilityHook`) the workers' augmentations differ from epoch to epoch
    (mmengine's default gives every epoch the same worker seeds) and are the same in a resumed
    run.
    """
    seed_all(derive_seed(torch.initial_seed(), rank))


def _sampler_of(loader):
    sampler = getattr(loader, 'sampler', None)
    batch_sampler = getattr(loader, 'batch_sampler', None)
    if batch_sampler is not None and hasattr(batch_sampler, 'sampler'):
        sampler = batch_sampler.sampler
    return sampler


class SeededFetches:
    """Proxy of an iteration-based loop's data iterator: the batch of iteration k is fetched
    with the random state ``derive_seed(seed, 'data', k, rank)``.

    The data of iteration k is fetched (and augmented, in the main process with
    ``num_workers=0``) before the ``before_train_iter`` hooks run, so its random state is the one
    the previous iteration left; after a resume that is a fresh run's state, and the first
    batch's augmentation differs from the uninterrupted run's. Keyed by the loop's iteration, the
    fetch is the same in both (however the resume skips the trained batches: at the sampler or
    by fetching them).
    """

    def __init__(self, iterator, loop, seed: int, rank: int = 0) -> None:
        self._iterator = iterator
        self._loop = loop
        self.seed = seed
        self.rank = rank

    def __iter__(self):
        return self

    def __next__(self):
        seed_all(derive_seed(self.seed, 'data', self._loop.iter, self.rank))
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class ReproducibilityHook(DistSamplerSeedHook):
    """mmengine's ``DistSamplerSeedHook`` that also makes a resumed run exact.

    A resumed run starts with the random state of a fresh run (``randomness.seed``), not with the
    state the interrupted run had reached: augmentations, dropout / drop-path and the workers'
    seeds diverge from the first step. This hook sets the state from what a resumed run knows:

    - ``before_train_epoch``: the sampler's epoch (as ``DistSamplerSeedHook``), then Python,
      NumPy and torch are seeded with ``derive_seed(seed, epoch, rank)`` (iteration-based loops:
      ``derive_seed(seed, 'iter', iter, rank)`` at every iteration, and the k-th batch is
      fetched with ``derive_seed(seed, 'data', k, rank)``, :class:`SeededFetches`: the data of
      the first iteration after a resume is drawn as in the uninterrupted run);
    - dataloader workers are seeded per epoch from torch's worker seed
      (:func:`seeded_worker_init_fn`), so with non-persistent workers they follow the epoch too;
    - the sampler's seed is the runner's seed after a resume (mmengine builds the sampler before
      it reads the checkpoint's seed).

    Exact for epoch-based loops resumed from epoch checkpoints, with any ``num_workers`` when
    ``persistent_workers=False`` (persistent workers keep their random state across epochs,
    which a resumed run cannot rebuild: a warning says so). Iteration-based loops are exact with
    ``num_workers=0`` (augmentation in the main process); their data augmentation in workers is
    not replayed.
    """

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        rank = get_rank()
        if getattr(loader, 'num_workers', 0) > 0:
            loader.worker_init_fn = partial(seeded_worker_init_fn, rank=rank)
            if getattr(loader, 'persistent_workers', False):
                print_log('ReproducibilityHook: train_dataloader.persistent_workers=True keeps '
                          'the workers\' random state across epochs; a resumed run cannot '
                          'repeat it exactly (set persistent_workers=False for exact resumes)',
                          logger='current', level=logging.WARNING)
        loop = runner.train_loop
        if (not self._epoch_based(runner) and hasattr(loop, 'dataloader_iterator')
                and not isinstance(loop.dataloader_iterator, SeededFetches)):
            loop.dataloader_iterator = SeededFetches(loop.dataloader_iterator, loop, runner.seed,
                                                     rank)
        sampler = _sampler_of(loader)
        if hasattr(sampler, 'set_epoch') and getattr(sampler, 'seed', None) not in (
                None, runner.seed) and hasattr(sampler, 'shuffle'):
            sampler.seed = runner.seed

    def _epoch_based(self, runner) -> bool:
        return isinstance(runner.train_loop, EpochBasedTrainLoop)

    def before_train_epoch(self, runner) -> None:
        super().before_train_epoch(runner)
        if self._epoch_based(runner):
            seed_all(derive_seed(runner.seed, runner.epoch, get_rank()))

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if not self._epoch_based(runner):
            seed_all(derive_seed(runner.seed, 'iter', runner.iter, get_rank()))


@HOOKS.register_module()
class ReproducibleSeedHook(ReproducibilityHook):
    """Deprecated registry name of :class:`ReproducibilityHook` (same behaviour); configs name
    ``ReproducibilityHook``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        print_log('ReproducibleSeedHook is deprecated: name the hook ReproducibilityHook '
                  '(the same hook)', logger='current', level=logging.WARNING)
