from .crf import DEFAULT_CRF_CFG, crf_available, crf_seed_labels, dense_crf
from .hooks import (
    AtomicCheckpointHook,
    PseudoLabelHook,
    ReproducibleSeedHook,
    default_palette,
    image_size,
    is_valid_label_png,
    predict_indices,
    save_label_png,
)
from .seed_tools import (
    SPLIT_KEYS,
    evaluate_pred_dir,
    evaluate_seeds,
    load_model_runner,
    make_pseudo_labels,
    split_dataloader,
    visualize_maps,
)

__all__ = [
    'AtomicCheckpointHook', 'ReproducibleSeedHook',
    'DEFAULT_CRF_CFG', 'PseudoLabelHook', 'crf_available', 'crf_seed_labels', 'default_palette',
    'dense_crf', 'image_size', 'is_valid_label_png', 'predict_indices',
    'save_label_png', 'SPLIT_KEYS', 'evaluate_pred_dir', 'evaluate_seeds', 'load_model_runner',
    'make_pseudo_labels', 'split_dataloader', 'visualize_maps'
]
