from .hooks import (
    AtomicCheckpointHook,
    PseudoLabelHook,
    ReproducibilityHook,
    ReproducibleSeedHook,
    prepare_pseudo_label_dir,
    pseudo_label_loop,
    subset_dataset,
)
from .optimizers import AutocastOptimWrapper, FusedFallbackOptimWrapperConstructor
from .schedulers import EpochWarmupCosineLR

__all__ = [
    'AtomicCheckpointHook', 'AutocastOptimWrapper', 'EpochWarmupCosineLR',
    'FusedFallbackOptimWrapperConstructor', 'PseudoLabelHook', 'ReproducibilityHook',
    'ReproducibleSeedHook',
    'prepare_pseudo_label_dir', 'pseudo_label_loop', 'subset_dataset'
]
