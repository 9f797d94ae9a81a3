from .hooks import (
    AtomicCheckpointHook,
    PseudoLabelHook,
    ReproducibleSeedHook,
    prepare_pseudo_label_dir,
    pseudo_label_loop,
    subset_dataset,
)
from .optimizers import AutocastOptimWrapper
from .schedulers import EpochWarmupCosineLR

__all__ = [
    'AtomicCheckpointHook', 'AutocastOptimWrapper', 'EpochWarmupCosineLR', 'PseudoLabelHook',
    'ReproducibleSeedHook',
    'prepare_pseudo_label_dir', 'pseudo_label_loop', 'subset_dataset'
]
