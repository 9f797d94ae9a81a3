from .cli import add_common_args, parse_with_local_rank
from .crf_columns import format_crf_columns, test_crf_columns
from .inference import inference_seeds
from .leakage_guard import GTMaskLeakageError, check_training_masks
from .seed_tools import (
    SPLIT_KEYS,
    evaluate_pred_dir,
    evaluate_seeds,
    make_pseudo_labels,
    predict_indices,
    split_dataloader,
    visualize_maps,
)
from .tool_flags import SERVER_DATASETS, configure_crf, configure_format_only, configure_test

__all__ = [
    'add_common_args', 'parse_with_local_rank', 'SERVER_DATASETS', 'configure_crf',
    'configure_format_only', 'configure_test', 'format_crf_columns', 'test_crf_columns',
    'inference_seeds', 'GTMaskLeakageError', 'check_training_masks',
    'SPLIT_KEYS', 'evaluate_pred_dir', 'evaluate_seeds', 'make_pseudo_labels', 'predict_indices',
    'split_dataloader', 'visualize_maps'
]
