"""The stages of :class:`~mmseg_mctformer.pipeline.WSSSPipeline`, one small class each.

A stage reads the results of the stages before it from the pipeline's state and returns its own
(JSON-able), which the pipeline writes into ``pipeline_state.json``. :data:`STAGES` lists them in
the order they run.
"""
import numbers
import os
import os.path as osp
import time

from mmengine.hooks import Hook

from ..cli.affinity_tools import check_maps_source, make_affinity_masks
from ..cli.seed_tools import evaluate_pred_dir, evaluate_seeds, make_pseudo_labels
from ..engine.runner import build_runner
from ..utils.checkpoint import file_sha256, find_resume_checkpoint
from .leakage_guard import check_training_masks
from .stage1_guard import check_stage1, sweep_thresholds


class _LastMetrics(Hook):
    """Keeps the metrics of the latest validation/test epoch of a runner."""

    def __init__(self):
        self.metrics = {}
        self.epoch = None

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = dict(metrics or {})
        self.epoch = runner.epoch

    def after_test_epoch(self, runner, metrics=None):
        self.metrics = dict(metrics or {})


def to_float(value):
    """``float(value)``; None stays None."""
    return None if value is None else float(value)


def scalar_metrics(metrics: dict) -> dict:
    """The scalar entries of a metrics dict, as floats."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, numbers.Real)}


class PipelineStage:
    """A stage of the pipeline: ``run(pipeline)`` returns its results for the state file.

    Args of :meth:`run`: ``pipeline`` (:class:`~mmseg_mctformer.pipeline.WSSSPipeline`), which
    gives the configs, the stage folders, the state and the provenance of the checkpoints.
    """
    #: Key of the stage in the state file.
    name = ''

    def enabled(self, pipeline) -> bool:
        """Whether the pipeline runs this stage (its options ask for it)."""
        return True

    def run(self, pipeline) -> dict:
        raise NotImplementedError


class Stage1(PipelineStage):
    """Train MCTformer on image labels (resumes an interrupted training)."""
    name = 'stage1'

    def run(self, pipeline) -> dict:
        work_dir = pipeline.stage_dir('stage1')
        resume = find_resume_checkpoint(work_dir) is not None
        runner = build_runner(pipeline.cls_cfg(resume=resume))
        recorder = _LastMetrics()
        runner.register_hook(recorder, priority='LOWEST')
        runner.train()
        checkpoint = find_resume_checkpoint(work_dir)
        if checkpoint is None:
            raise RuntimeError(f'stage 1 finished without a checkpoint in {work_dir}; the config '
                               'needs default_hooks.checkpoint')
        # a validation after the last epoch measured the final weights already
        final = recorder.metrics if recorder.epoch == runner.max_epochs else {}
        return dict(checkpoint=checkpoint, checkpoint_sha256=file_sha256(checkpoint),
                    final_val_metrics=scalar_metrics(final))


class Seeds(PipelineStage):
    """Classification mAP and seed mIoU (threshold sweep) on the val split."""
    name = 'seeds'

    def run(self, pipeline) -> dict:
        metrics = pipeline.state['stage1'].get('final_val_metrics')
        if not metrics:
            metrics = evaluate_seeds(pipeline.cls_cfg(), pipeline.state['stage1']['checkpoint'],
                                     split='val')
        return dict(
            cls_mAP=to_float(metrics.get('cls/mAP')),
            seed_mIoU=to_float(metrics.get('seed/mIoU')),
            best_threshold=to_float(metrics.get('seed/best_threshold')),
            metrics=scalar_metrics(metrics), inputs=pipeline.inputs('stage1'))


class PseudoLabels(PipelineStage):
    """The seeds of the training split at the best threshold (with their maps when an affinity
    stage follows), and all-background masks of images without a foreground label."""
    name = 'pseudo_labels'

    def run(self, pipeline) -> dict:
        cfg = pipeline.cls_cfg()
        # raise before the pseudo-masks when the seeds show an untrained stage 1
        check_stage1(pipeline.state['seeds'].get('metrics') or {}, sweep_thresholds(cfg),
                     allow=pipeline.allow_weak_stage1,
                     where=f"stage 1 ({pipeline.state['stage1']['checkpoint']}, val split)")
        out_dir = pipeline.stage_dir('pseudo_labels')
        make_pseudo_labels(pipeline.with_best_threshold(pipeline.cls_cfg()),
                           pipeline.state['stage1']['checkpoint'], out_dir,
                           save_logits=pipeline.aff_config is not None,
                           fp16=pipeline.amp_inference)
        background = pipeline.write_background_masks(out_dir)
        return dict(out_dir=out_dir, background_only=background,
                    inputs=pipeline.inputs('stage1'))


class PseudoEval(PipelineStage):
    """mIoU of the pseudo-labels against the GT masks of the training split."""
    name = 'pseudo_eval'

    def run(self, pipeline) -> dict:
        result = evaluate_pred_dir(pipeline.cls_cfg(), pipeline.state['pseudo_labels']['out_dir'])
        return dict(pseudo_mIoU=to_float(result.get('mIoU')), metrics=result)


class _AffinityStage(PipelineStage):
    """A stage of the AffinityNet branch: runs with an affinity config, reads the stage-1 maps."""

    def enabled(self, pipeline) -> bool:
        return bool(pipeline.aff_config)

    def check_stage1_maps(self, pipeline) -> None:
        """Raise unless the maps beside the seeds come from this pipeline's stage-1 checkpoint."""
        check_maps_source(pipeline.state['pseudo_labels']['out_dir'],
                          pipeline.checkpoint_sha256('stage1'), f'pipeline {self.name} stage',
                          pipeline.state['stage1']['checkpoint'])


class Affinity(_AffinityStage):
    """AffinityNet trained on the stage-1 maps beside the seeds (PSA)."""
    name = 'affinity'

    def run(self, pipeline) -> dict:
        start = time.perf_counter()
        # the maps (.npz) beside the seeds: written by the pseudo_labels stage when it ran with an
        # affinity config; completed here otherwise (finished images are skipped)
        maps_dir = pipeline.state['pseudo_labels']['out_dir']
        names = os.listdir(maps_dir) if osp.isdir(maps_dir) else []
        pngs = {n[:-4] for n in names if n.endswith('.png')}
        if not pngs or any(f'{n}.npz' not in names for n in pngs):
            make_pseudo_labels(pipeline.with_best_threshold(pipeline.cls_cfg()),
                               pipeline.state['stage1']['checkpoint'], maps_dir,
                               save_logits=True, fp16=pipeline.amp_inference)
        maps_seconds = time.perf_counter() - start
        self.check_stage1_maps(pipeline)
        work_dir = pipeline.stage_dir('affinity')
        resume = find_resume_checkpoint(work_dir) is not None
        runner = build_runner(pipeline.aff_cfg(resume=resume))
        runner.train()
        checkpoint = find_resume_checkpoint(work_dir)
        if checkpoint is None:
            raise RuntimeError(f'the affinity training finished without a checkpoint in '
                               f'{work_dir}; the config needs default_hooks.checkpoint')
        return dict(checkpoint=checkpoint, checkpoint_sha256=file_sha256(checkpoint),
                    maps_seconds=maps_seconds, seconds=time.perf_counter() - start,
                    inputs=pipeline.inputs('stage1'))


class Masks(_AffinityStage):
    """Random-walk masks of the training split and their mIoU."""
    name = 'masks'

    def run(self, pipeline) -> dict:
        start = time.perf_counter()
        self.check_stage1_maps(pipeline)
        result = make_affinity_masks(pipeline.with_best_threshold(pipeline.aff_cfg()),
                                     pipeline.state['affinity']['checkpoint'],
                                     pipeline.stage_dir('masks'))
        # images without a foreground label have no maps: all-background masks, as the seeds
        pipeline.write_background_masks(result['out_dir'], kind='affinity_mask')
        return dict(out_dir=result['out_dir'], mask_mIoU=to_float(result.get('mIoU')),
                    metrics=scalar_metrics({k: v for k, v in result.items()
                                            if k not in ('IoU_per_class', 'out_dir')}),
                    seconds=time.perf_counter() - start,
                    inputs=pipeline.inputs('stage1', 'affinity'))


def train_segmentor(pipeline, seg_map_path: str, name: str) -> dict:
    """Train the segmentation config on the masks of ``seg_map_path`` in the stage folder
    ``name``; its last validation mIoU and checkpoint."""
    work_dir = pipeline.stage_dir(name)
    resume = find_resume_checkpoint(work_dir) is not None
    cfg = pipeline.seg_cfg(seg_map_path, work_dir, resume=resume)
    gt_masks = check_training_masks(
        cfg, allow_gt_masks=pipeline.allow_gt_masks or name == 'segmentation_gt',
        extra_gt_dirs=[pipeline.stage1_gt_dir(required=False)], source=f'[pipeline] {name}')
    runner = build_runner(cfg)
    recorder = _LastMetrics()
    runner.register_hook(recorder, priority='LOWEST')
    runner.train()
    if not recorder.metrics:  # the schedule did not end with a validation
        runner.val()
    return dict(mIoU=to_float(recorder.metrics.get('mIoU')),
                checkpoint=find_resume_checkpoint(work_dir),
                gt_masks=gt_masks, label='GT baseline' if gt_masks else 'WSSS',
                inputs=pipeline.inputs('stage1', *(['affinity'] if 'affinity' in pipeline.state
                                                   and name == 'segmentation' else [])))


class Segmentation(PipelineStage):
    """The segmentor trained on the masks (else the pseudo-labels), validated on GT."""
    name = 'segmentation'

    def run(self, pipeline) -> dict:
        labels = pipeline.state.get('masks') or pipeline.state['pseudo_labels']
        return train_segmentor(pipeline, labels['out_dir'], 'segmentation')


class SegmentationGT(PipelineStage):
    """The same segmentor trained on the GT masks: the fully supervised upper bound."""
    name = 'segmentation_gt'

    def enabled(self, pipeline) -> bool:
        return bool(pipeline.gt_baseline)

    def run(self, pipeline) -> dict:
        return train_segmentor(pipeline, pipeline.stage1_gt_dir(), 'segmentation_gt')


#: The stages in the order they run.
STAGES = (Stage1(), Seeds(), PseudoLabels(), PseudoEval(), Affinity(), Masks(), Segmentation(),
          SegmentationGT())
