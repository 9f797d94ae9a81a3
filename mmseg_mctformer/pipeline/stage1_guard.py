"""A check that stage 1 learned something before its maps become pseudo-masks.

Two symptoms of a stage 1 that has not learned, both read from its validation metrics:

- the classification mAP (``cls/mAP``) is near the base rate of the split's labels
  (``cls/label_rate``, the mean fraction of images that hold a class: the mAP of random scores);
- the best background threshold of the seed sweep (``seed/best_threshold``) is the sweep's first
  or last value: the maps do not separate objects from background at any threshold in between.

Pseudo-masks written from such maps train the segmentor on noise; :func:`check_stage1` stops
with a message that says what was measured, what it means, and how to go on anyway.
"""
from typing import List, Mapping, Optional, Sequence

from mmengine.logging import print_log

from ..evaluation.metrics.seed_metric import DEFAULT_THRESHOLDS, THRESHOLD_PRESETS

#: The command-line flag of ``tools/train.py`` and ``tools/run_pipeline.py`` that lets a weak
#: stage 1 through.
ALLOW_FLAG = '--allow-weak-stage1'


class WeakStage1Error(RuntimeError):
    """Stage 1's validation metrics show no classification or no localisation."""


def sweep_thresholds(cfg) -> Optional[List[float]]:
    """The background thresholds of the ``SeedMetric`` of ``cfg.val_evaluator``, or None.

    Args:
        cfg (mmengine.Config): A stage-1 config.
    """
    evaluators = cfg.get('val_evaluator')
    if evaluators is None:
        return None
    if isinstance(evaluators, Mapping):
        evaluators = [evaluators]
    for evaluator in evaluators:
        if evaluator.get('type') in ('SeedMetric', 'mmseg.SeedMetric'):
            thresholds = evaluator.get('thresholds', DEFAULT_THRESHOLDS)
            if isinstance(thresholds, str):
                thresholds = THRESHOLD_PRESETS.get(thresholds, DEFAULT_THRESHOLDS)
            if isinstance(thresholds, (int, float)):
                thresholds = [thresholds]
            return [float(t) for t in thresholds]
    return None


def stage1_problems(metrics: Mapping,
                    thresholds: Optional[Sequence[float]] = None,
                    min_map_gain: float = 10.0) -> List[str]:
    """What the validation metrics of stage 1 say it has not learned (empty: nothing).

    Args:
        metrics (Mapping): Validation metrics with ``cls/mAP`` and ``cls/label_rate`` (in %)
            and ``seed/best_threshold``; a missing entry skips its check.
        thresholds (Sequence[float], optional): The seed sweep; None skips the edge check.
            Default: None.
        min_map_gain (float): Points of mAP above the label base rate that count as learned.
            Default: 10.0.

    Returns:
        list[str]: One sentence per symptom, with the numbers measured.
    """
    problems = []
    cls_map, rate = metrics.get('cls/mAP'), metrics.get('cls/label_rate')
    if cls_map is not None and rate is not None and float(cls_map) < float(rate) + min_map_gain:
        problems.append(
            f'classification mAP {float(cls_map):.1f} is less than {min_map_gain:g} points above '
            f'the base rate of the labels, {float(rate):.1f} (the mAP of random scores): the '
            'class scores barely tell the classes apart')
    best = metrics.get('seed/best_threshold')
    if best is not None and thresholds and len(thresholds) > 1:
        lo, hi = min(thresholds), max(thresholds)
        if float(best) in (lo, hi):
            side = 'highest' if float(best) == hi else 'lowest'
            problems.append(
                f'the best background threshold of the seeds, {float(best):.2f}, is the {side} '
                f'of the sweep {lo:.2f}-{hi:.2f}: no threshold in between separates objects from '
                'background, the maps do not localise the classes')
    return problems


def check_stage1(metrics: Mapping,
                 thresholds: Optional[Sequence[float]] = None,
                 allow: bool = False,
                 min_map_gain: float = 10.0,
                 where: str = 'stage 1') -> List[str]:
    """Stop (raise) when stage 1 has not learned, unless ``allow``; then log a warning.

    Args:
        metrics (Mapping): See :func:`stage1_problems`.
        thresholds (Sequence[float], optional): See :func:`stage1_problems`. Default: None.
        allow (bool): Log the problems instead of raising (the ``--allow-weak-stage1`` flag).
            Default: False.
        min_map_gain (float): See :func:`stage1_problems`. Default: 10.0.
        where (str): What was measured, for the message (e.g. the work dir). Default: 'stage 1'.

    Returns:
        list[str]: The problems found (empty when stage 1 passed).

    Raises:
        WeakStage1Error: If a problem was found and ``allow`` is False.
    """
    problems = stage1_problems(metrics, thresholds, min_map_gain)
    if not problems:
        return problems
    seeds = ''
    if metrics.get('seed/mIoU') is not None and metrics.get('seed/best_threshold') is not None:
        seeds = (f" (measured: seed mIoU {float(metrics['seed/mIoU']):.1f} at threshold "
                 f"{float(metrics['seed/best_threshold']):.2f})")
    message = (f'{where} has not learned on this dataset: ' + '; '.join(problems) + '. Seeds, '
               f'pseudo-masks and a segmentor trained on them would be noise{seeds}. The '
               'pseudo-masks use the image labels, not the class scores: with a weak mAP alone '
               'and seeds well above the all-background mIoU they may still serve. Train stage 1 '
               'longer: for the demo layout the 4-epoch small-data recipe '
               'configs/mctformer/mctformer-plus_dinov2-s_1xb32-4e_demo-112x112.py (if it '
               'stops too, another randomness.seed), for any '
               'config train_cfg.max_epochs with the end of the learning-rate schedule (for '
               'the demo configs param_scheduler.1.end and param_scheduler.1.T_max); what limits '
               'stage 1 on which data: docs/en/user_guides/own_dataset.md. Or pass '
               f'{ALLOW_FLAG} to go on anyway.')
    if not allow:
        raise WeakStage1Error(message)
    print_log(f'{message} ({ALLOW_FLAG} given: going on)', logger='current', level=30)
    return problems
