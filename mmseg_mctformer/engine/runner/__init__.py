from .pseudo_label_loop import PseudoLabelLoop, build_full_dataset, subset_dataset

__all__ = ['PseudoLabelLoop', 'build_full_dataset', 'subset_dataset']
