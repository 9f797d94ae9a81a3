from .hooks import (
    AtomicCheckpointHook,
    PseudoLabelHook,
    ReproducibilityHook,
    ReproducibleSeedHook,
)
from .optimizers import AutocastOptimWrapper, FusedFallbackOptimWrapperConstructor
from .runner import PseudoLabelLoop
from .schedulers import EpochWarmupCosineLR

__all__ = [
    'AtomicCheckpointHook', 'AutocastOptimWrapper', 'EpochWarmupCosineLR',
    'FusedFallbackOptimWrapperConstructor', 'PseudoLabelHook', 'ReproducibilityHook',
    'ReproducibleSeedHook',
    'PseudoLabelLoop'
]
