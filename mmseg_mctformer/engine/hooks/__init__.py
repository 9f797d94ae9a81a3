from .pseudo_label_hook import (
                                PseudoLabelHook,
                                atomic_write,
                                default_palette,
                                image_size,
                                is_valid_label_png,
                                save_label_png,
)

__all__ = [
    'PseudoLabelHook', 'atomic_write', 'default_palette', 'image_size', 'is_valid_label_png',
    'save_label_png'
]
