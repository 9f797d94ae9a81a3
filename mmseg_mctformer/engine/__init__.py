from .hooks import (
    AtomicCheckpointHook,
    PseudoLabelHook,
    ReproducibleSeedHook,
    prepare_pseudo_label_dir,
    pseudo_label_loop,
    subset_dataset,
)

__all__ = [
    'AtomicCheckpointHook', 'PseudoLabelHook', 'ReproducibleSeedHook', 'prepare_pseudo_label_dir',
    'pseudo_label_loop', 'subset_dataset'
]
