"""The logic behind the ``tools/`` scripts, importable and tested; each script parses its
arguments and calls into this package.

:mod:`.args` (the flags every tool shares), :mod:`.tool_flags` (``tools/test.py``'s flags as
config edits), :mod:`.crf_columns` (``tools/test.py --crf-columns``), :mod:`.seed_tools`
(pseudo-labels, seed evaluation, map drawings) and :mod:`.affinity_tools` (AffinityNet's
masks).
"""
from .affinity_tools import (
    check_maps_source,
    get_maps_dir,
    make_affinity_masks,
    maps_source,
    set_maps_dir,
)
from .args import add_common_args, parse_with_local_rank
from .crf_columns import CRF_TABLE_FILE, format_crf_columns, test_crf_columns
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
    'configure_format_only', 'configure_test', 'CRF_TABLE_FILE', 'format_crf_columns',
    'test_crf_columns', 'SPLIT_KEYS', 'evaluate_pred_dir', 'evaluate_seeds',
    'make_pseudo_labels', 'predict_indices', 'split_dataloader', 'visualize_maps',
    'check_maps_source', 'get_maps_dir', 'make_affinity_masks', 'maps_source', 'set_maps_dir'
]
