from .checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend, deferred_signals
from .pseudo_label_hook import PseudoLabelHook
from .reproducibility_hook import (
    ReproducibilityHook,
    ReproducibleSeedHook,
    derive_seed,
    seed_all,
    seeded_worker_init_fn,
)

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'deferred_signals', 'ReproducibilityHook',
    'ReproducibleSeedHook',
    'derive_seed', 'seed_all', 'seeded_worker_init_fn', 'PseudoLabelHook'
]
