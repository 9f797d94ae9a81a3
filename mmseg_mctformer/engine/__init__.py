from .crf import DEFAULT_CRF_CFG, crf_available, crf_seed_labels, dense_crf
from .hooks import (
    PseudoLabelHook,
    default_palette,
    image_size,
    is_valid_label_png,
    save_label_png,
)

__all__ = [
    'DEFAULT_CRF_CFG', 'PseudoLabelHook', 'crf_available', 'crf_seed_labels', 'default_palette',
    'dense_crf', 'image_size', 'is_valid_label_png', 'save_label_png'
]
