from .checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend, deferred_signals
from .pseudo_label_hook import (
    PseudoLabelHook,
    default_palette,
    image_size,
    is_valid_label_png,
    predict_indices,
    save_label_png,
)

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'deferred_signals',
    'PseudoLabelHook', 'default_palette', 'image_size', 'is_valid_label_png', 'predict_indices',
    'save_label_png'
]
