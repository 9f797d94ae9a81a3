"""The multi-stage WSSS pipeline (``tools/run_pipeline.py``) and the guards its stages run.

:class:`WSSSPipeline` runs the stages of :data:`STAGES` (one class each, :mod:`.stages`) and
records their results in ``pipeline_state.json``; :mod:`.stage1_guard` stops on a stage 1 that has
not learned, and :mod:`.leakage_guard` refuses training masks that are the ground truth;
:mod:`.class_counts` checks that the segmentor predicts background + the stage-1 classes;
:mod:`.aggregate_runs` gives the mean and spread of several runs' results.
"""
from .aggregate_runs import (
    AGGREGATE_FILES,
    aggregate_runs,
    format_aggregate,
    run_rows,
    write_aggregate,
)
from .class_counts import check_seg_num_classes, seg_head_num_classes, stage1_num_classes
from .leakage_guard import (
    GTMaskLeakageError,
    check_training_masks,
    find_gt_match,
    gt_mask_dirs,
    training_mask_dirs,
)
from .pipeline import PAPER_VOC_MODEL, WSSSPipeline, format_table, paper_voc, write_background_masks
from .stage1_guard import (
    ALLOW_FLAG,
    WeakStage1Error,
    check_stage1,
    stage1_problems,
    sweep_thresholds,
)
from .stages import STAGES, PipelineStage, train_segmentor

__all__ = [
    'WSSSPipeline', 'format_table', 'paper_voc', 'write_background_masks', 'PAPER_VOC_MODEL',
    'STAGES', 'PipelineStage', 'train_segmentor', 'ALLOW_FLAG', 'WeakStage1Error',
    'check_stage1', 'stage1_problems', 'sweep_thresholds', 'GTMaskLeakageError',
    'check_training_masks', 'find_gt_match', 'gt_mask_dirs', 'training_mask_dirs',
    'AGGREGATE_FILES', 'aggregate_runs', 'format_aggregate', 'run_rows', 'write_aggregate',
    'check_seg_num_classes', 'seg_head_num_classes', 'stage1_num_classes'
]
