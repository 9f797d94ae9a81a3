"""Inference on one image, as MMSeg's ``mmseg.apis``: :func:`inference_seeds`.

The logic of the ``tools/`` scripts lives in :mod:`mmseg_mctformer.cli` and the multi-stage
pipeline with its guards in :mod:`mmseg_mctformer.pipeline`. Their names that this package
exported before they moved there (:data:`MOVED_NAMES`) still import from here: the module-level
``__getattr__`` returns the moved object and logs, once a process per name, where it is now.
"""
import importlib

from ..utils.console import print_log_once
from .inference import inference_seeds

#: Names imported from ``mmseg_mctformer.apis`` (or its modules) before they moved: name -> the
#: package that exports them.
MOVED_NAMES = {
    **{name: 'mmseg_mctformer.cli' for name in (
        'add_common_args', 'parse_with_local_rank', 'SERVER_DATASETS', 'configure_crf',
        'configure_format_only', 'configure_test', 'format_crf_columns', 'test_crf_columns',
        'SPLIT_KEYS', 'evaluate_pred_dir', 'evaluate_seeds', 'make_pseudo_labels',
        'predict_indices', 'split_dataloader', 'visualize_maps', 'make_affinity_masks',
        'set_maps_dir')},
    **{name: 'mmseg_mctformer.pipeline' for name in (
        'WSSSPipeline', 'STAGES', 'PAPER_VOC_MODEL', 'format_table', 'GTMaskLeakageError',
        'check_training_masks', 'find_gt_match', 'training_mask_dirs', 'WeakStage1Error',
        'check_stage1', 'stage1_problems', 'sweep_thresholds', 'aggregate_runs',
        'format_aggregate', 'write_aggregate')},
}

__all__ = ['inference_seeds']


def __getattr__(name: str):
    """The object a moved name of :data:`MOVED_NAMES` names now, with a deprecation message (once
    a process per name) that gives its import path."""
    package = MOVED_NAMES.get(name)
    if package is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    print_log_once((__name__, name),
                   f'mmseg_mctformer.apis.{name} is deprecated: it moved to {package}; use '
                   f'"from {package} import {name}" (same object)')
    return getattr(importlib.import_module(package), name)
