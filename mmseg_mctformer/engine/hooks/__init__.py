from .checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend, deferred_signals
from .pseudo_label_hook import (
    PseudoLabelHook,
    default_palette,
    image_size,
    is_valid_label_png,
    predict_indices,
    save_label_png,
)
from .seed_hook import ReproducibleSeedHook, derive_seed, seed_all, seeded_worker_init_fn

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'deferred_signals', 'ReproducibleSeedHook',
    'derive_seed', 'seed_all', 'seeded_worker_init_fn',
    'PseudoLabelHook', 'default_palette', 'image_size', 'is_valid_label_png', 'predict_indices',
    'save_label_png'
]
