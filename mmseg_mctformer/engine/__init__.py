from .hooks import (
    AtomicCheckpointHook,
    PseudoLabelHook,
    ReproducibleSeedHook,
    prepare_pseudo_label_dir,
    pseudo_label_loop,
    subset_dataset,
)
from .optimizers import AutocastOptimWrapper

__all__ = [
    'AtomicCheckpointHook', 'AutocastOptimWrapper', 'PseudoLabelHook', 'ReproducibleSeedHook',
    'prepare_pseudo_label_dir', 'pseudo_label_loop', 'subset_dataset'
]
