from .hooks import PseudoLabelHook, prepare_pseudo_label_dir, pseudo_label_loop, subset_dataset

__all__ = ['PseudoLabelHook', 'prepare_pseudo_label_dir', 'pseudo_label_loop', 'subset_dataset']
