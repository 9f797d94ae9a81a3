"""The whole WSSS pipeline as resumable stages.

``stage1`` (train MCTformer on image labels) -> ``seeds`` (classification mAP and seed mIoU with the
threshold sweep) -> ``pseudo_labels`` (masks of the training split at the best threshold) ->
``pseudo_eval`` (mIoU of those masks against the GT where it exists) -> with an affinity config,
``affinity`` (AffinityNet trained on the stage-1 maps of the training split, saved beside the seeds)
and ``masks`` (random-walk masks of the training split and their mIoU) -> ``segmentation`` (an MMSeg
segmentor, e.g. DeepLabV3+, trained on the masks, else on the pseudo-masks, and validated on GT) ->
optionally ``segmentation_gt`` (the same segmentor on the GT masks: the fully supervised upper
bound).

Every finished stage writes its results into ``<work_dir>/pipeline_state.json`` (atomically); a
rerun skips finished stages and resumes an interrupted training from its last checkpoint. Each
stage that consumes a checkpoint records the SHA-256 of its inputs (``inputs``: upstream stage ->
checkpoint SHA-256); a rerun refuses finished stages whose inputs no longer match, and the
affinity and masks stages refuse maps written by another stage-1 checkpoint.

Each stage is one small class of :mod:`~mmseg_mctformer.pipeline.stages` (its list
``STAGES`` is the order they run in); :class:`WSSSPipeline` holds the configs, the stage folders,
the state and the provenance of the checkpoints.
"""
import copy
import json
import os
import os.path as osp

import torch
from mmengine.dist import barrier, is_main_process
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from ..cli.affinity_tools import set_maps_dir
from ..cli.seed_tools import split_dataloader
from ..datasets import WSSSBaseDataset
from ..datasets.utils import unwrap_dataset_cfg
from ..engine.runner import (
    enable_amp_inference,
    load_config,
    set_bg_threshold,
    set_init_from_stage1,
    set_pseudo_label_dir,
)
from ..evaluation.metric_names import add_split_keys, split_key, split_name
from ..utils.checkpoint import file_sha256
from ..utils.io import atomic_write_text
from ..utils.label_dir import LabelDir
from ..utils.metafile import read_metafile_metrics
from .class_counts import check_seg_num_classes, stage1_num_classes
from .stages import STAGES

#: The model-index entry (configs/mctformer/metafile.yaml) holding the MCTformer+ paper's numbers
#: on PASCAL VOC 2012 (docs/en/method.md, section 5).
PAPER_VOC_MODEL = 'mctformer-plus_deit-s_1xb32-45e_voc12aug-448x448'
#: Per row with a paper number: that entry's ``task/split/name`` metric. The pseudo-mask row
#: compares with the paper's masks (the masks its segmentor trains on) when no mask row is shown.
PAPER_VOC_METRICS = {'seed_mIoU': 'seed/train/mIoU', 'pseudo_mIoU': 'mask/train/mIoU',
                     'mask_mIoU': 'mask/train/mIoU', 'seg_mIoU': 'seg/val/mIoU'}
#: Per row: the stage that measures it and the metric's ``task/name``
#: (``task/split/name`` in the state and the tables, :mod:`..evaluation.metric_names`).
ROW_METRICS = {'cls_mAP': ('seeds', 'cls/mAP'), 'seed_mIoU': ('seeds', 'seed/mIoU'),
               'pseudo_mIoU': ('pseudo_eval', 'pseudo/mIoU'), 'mask_mIoU': ('masks', 'mask/mIoU'),
               'seg_mIoU': ('segmentation', 'seg/mIoU'),
               'seg_gt_mIoU': ('segmentation_gt', 'seg_gt/mIoU')}
#: Per measuring stage: the task prefix of its plain metric names and the split it measures
#: (a :data:`~mmseg_mctformer.cli.SPLIT_KEYS` name; None: the pseudo-label split).
STAGE_SPLITS = {'seeds': (None, 'val'), 'pseudo_eval': ('pseudo', None),
                'masks': ('mask', 'test'), 'segmentation': ('seg', 'val'),
                'segmentation_gt': ('seg_gt', 'val')}
ROW_NAMES = {
    'cls_mAP': 'classification mAP (stage 1, val split)',
    'seed_mIoU': 'seed mIoU (best background threshold)',
    'pseudo_mIoU': 'pseudo-mask mIoU (training split)',
    'mask_mIoU': 'mask mIoU (train, affinity random walk)',
    'seg_mIoU': 'segmentor val mIoU (trained on pseudo-masks)',
    'seg_gt_mIoU': 'segmentor val mIoU (trained on GT masks)',
}


def write_background_masks(cfg, out_dir, split=None, kind='pseudo_label'):
    """All-background masks for the images of a split that have no foreground label.

    Stage 1 and the pseudo-label writer skip such images (``skip_empty``), but the segmentor's
    training split lists them and needs a mask for each: their image-level label says "only
    background", so the mask is all zeros (:meth:`LabelDir.write_background`, main process).

    Args:
        cfg (Config): The stage-1 config.
        out_dir (str): The label folder.
        split (str, optional): See :func:`mmseg_mctformer.cli.split_dataloader`.
            Default: None (the pseudo-label split).
        kind (str): The folder kind (:data:`~mmseg_mctformer.utils.label_dir.FOLDER_KINDS`).
            Default: ``'pseudo_label'``.

    Returns:
        int: Number of images without a foreground label (masks written or kept).
    """
    dataset_cfg = copy.deepcopy(unwrap_dataset_cfg(split_dataloader(cfg, split)))
    dataset_type = dataset_cfg['type']
    if isinstance(dataset_type, str):
        dataset_type = DATASETS.get(dataset_type)
    count = 0
    if isinstance(dataset_type, type) and issubclass(dataset_type, WSSSBaseDataset) \
            and is_main_process():
        dataset_cfg.update(skip_empty=False, pipeline=[])
        dataset = DATASETS.build(dataset_cfg)
        count = LabelDir.of(kind, out_dir).write_background(dataset)
        if count:
            print_log(f'[pipeline] {count} image(s) of {dataset._source()} have no foreground '
                      f'label: all-background pseudo-masks in {out_dir}', logger='current')
    barrier()
    return count


class WSSSPipeline:
    """Runs the pipeline stages for a stage-1 config and a segmentation config.

    Args:
        cls_config (str): Stage-1 MCTformer config.
        seg_config (str): Segmentor config (e.g. ``configs/deeplabv3plus/...``) whose train split's
            ``data_prefix.seg_map_path`` is replaced by the pseudo-label folder.
        work_dir (str): Root work dir; stages use ``stage1/``, ``pseudo_labels/``, ``segmentation/``
            and ``segmentation_gt/`` below it.
        cfg_options (dict, optional): ``--cfg-options`` for the stage-1 config. Default: None.
        seg_cfg_options (dict, optional): ``--cfg-options`` for the segmentation config.
            Default: None.
        gt_baseline (bool): Also train the segmentor on GT masks. Default: False.
        launcher (str): mmengine launcher. Default: ``'none'``.
        amp (bool): Mixed precision for the trainings (``--amp``); on a CPU also for the
            inference stages (maps, validation, random walk: bfloat16 ``TestLoop`` / ``ValLoop``
            ``fp16=True``, :func:`enable_amp_inference`). Default: False.
        aff_config (str, optional): AffinityNet config (``configs/affinity/``); enables the
            ``affinity`` and ``masks`` stages (PSA) and the segmentor trains on their masks.
            Default: None.
        aff_cfg_options (dict, optional): ``--cfg-options`` for the affinity config.
            Default: None.
        allow_gt_masks (bool): Let the ``segmentation`` stage train on masks that are the
            ground truth (:func:`~mmseg_mctformer.pipeline.check_training_masks` refuses them
            otherwise); ``segmentation_gt`` always may. Default: False.
        allow_weak_stage1 (bool): Go on to the pseudo-masks when the seeds stage shows that stage 1
            has not learned (:func:`~mmseg_mctformer.pipeline.stage1_guard.check_stage1`; a warning
            instead of :class:`~mmseg_mctformer.pipeline.stage1_guard.WeakStage1Error`).
            Default: False.
    """

    #: The stage names, in the order they run (:data:`.stages.STAGES`).
    STAGES = tuple(stage.name for stage in STAGES)

    def __init__(self, cls_config, seg_config, work_dir, cfg_options=None, seg_cfg_options=None,
                 gt_baseline=False, launcher='none', amp=False, aff_config=None,
                 aff_cfg_options=None, allow_gt_masks=False,
                 allow_weak_stage1=False):
        self.cls_config = cls_config
        self.seg_config = seg_config
        self.work_dir = osp.abspath(work_dir)
        self.cfg_options = cfg_options or {}
        self.seg_cfg_options = seg_cfg_options or {}
        self.gt_baseline = gt_baseline
        self.launcher = launcher
        self.amp = amp
        # bfloat16 inference where the trainings run in bfloat16 (CPU); with CUDA the inference
        # stays float32 (float16 maps are not measured)
        self.amp_inference = amp and not torch.cuda.is_available()
        self.aff_config = aff_config
        self.aff_cfg_options = aff_cfg_options or {}
        self.allow_gt_masks = allow_gt_masks
        self.allow_weak_stage1 = allow_weak_stage1
        self.state_file = osp.join(self.work_dir, 'pipeline_state.json')
        self.state = self._load_state()

    # ------------------------------------------------------------------ state
    def _load_state(self):
        if not osp.isfile(self.state_file):
            return {}
        try:
            with open(self.state_file) as f:
                return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'corrupt pipeline state file {self.state_file}: {e}; delete it to '
                             'rerun every stage') from e

    def _finish(self, stage, results):
        self.state[stage] = results
        if is_main_process():
            os.makedirs(self.work_dir, exist_ok=True)
            atomic_write_text(self.state_file, json.dumps(self.state, indent=2))

    def stage_dir(self, name):
        """The folder of stage ``name`` below the work dir."""
        return osp.join(self.work_dir, name)

    # ------------------------------------------------------------- provenance
    def checkpoint_sha256(self, stage):
        """SHA-256 of the checkpoint a finished stage produced (``stage1``, ``affinity``)."""
        result = self.state[stage]
        if not result.get('checkpoint_sha256'):  # a state written without it: the file now
            result['checkpoint_sha256'] = file_sha256(result['checkpoint'])
        return result['checkpoint_sha256']

    def inputs(self, *stages):
        """``inputs`` of a stage result: upstream stage -> SHA-256 of its checkpoint."""
        return {stage: self.checkpoint_sha256(stage) for stage in stages}

    def check_inputs(self):
        """Refuse finished stages whose recorded inputs are not the current upstream checkpoints
        (e.g. stage 1 retrained after the pseudo-labels were made).

        Raises:
            ValueError: Naming the stage, the upstream stage and both SHA-256.
        """
        for stage, result in self.state.items():
            for upstream, sha in (result.get('inputs') or {}).items():
                now = (self.state.get(upstream) or {}).get('checkpoint_sha256')
                if now is not None and now != sha:
                    raise ValueError(
                        f'{self.state_file}: stage {stage!r} used the {upstream} checkpoint with '
                        f'SHA-256 {sha}, the {upstream} stage now holds {now}. Delete {stage!r} '
                        'and the stages after it from the state file to rerun them.')

    # ---------------------------------------------------------------- configs
    def _load_config(self, path, cfg_options, work_dir, resume):
        cfg = load_config(path, cfg_options, work_dir, self.launcher, amp=self.amp,
                          resume=resume)
        if self.amp_inference:
            enable_amp_inference(cfg)
        return cfg

    def cls_cfg(self, resume=False):
        """The stage-1 config (work dir ``stage1/``)."""
        return self._load_config(self.cls_config, self.cfg_options, self.stage_dir('stage1'),
                                 resume)

    def with_best_threshold(self, cfg):
        """``cfg`` with the seeds stage's best background threshold as
        ``model.test_cfg.bg_threshold`` (:func:`set_bg_threshold`), where the pseudo-labels, their
        maps and the random-walk masks read it."""
        return set_bg_threshold(cfg, self.state['seeds']['best_threshold'])

    def seg_cfg(self, seg_map_path, work_dir, resume=False):
        """The segmentation config training on the masks of ``seg_map_path`` in ``work_dir``.

        A config declaring ``init_from_stage1`` (:func:`set_init_from_stage1`) starts that module
        from the stage-1 checkpoint, with stage 1's number of class tokens (``num_classes``).
        """
        cfg = self._load_config(self.seg_config, self.seg_cfg_options, work_dir, resume)
        if 'data_prefix' not in unwrap_dataset_cfg(cfg.train_dataloader):
            raise KeyError(f'{self.seg_config}: train_dataloader.dataset has no data_prefix to '
                           'point at the pseudo-labels')
        set_pseudo_label_dir(cfg, seg_map_path)
        checkpoint = self.state['stage1']['checkpoint']
        module = set_init_from_stage1(cfg, checkpoint)
        if module is not None:
            num_classes = stage1_num_classes(self.cls_cfg())
            if 'num_classes' in module and num_classes is not None:
                module['num_classes'] = num_classes
            print_log(f'[pipeline] {cfg.init_from_stage1} starts from the stage-1 checkpoint '
                      f'{checkpoint}', logger='current')
        return cfg

    def check_class_counts(self):
        """Check, before any stage runs, that the segmentor predicts background + the stage-1
        classes (:func:`check_seg_num_classes`).

        Raises:
            ValueError: Naming the segmentor config's key and the value it needs.
        """
        seg_cfg = self._load_config(self.seg_config, self.seg_cfg_options, None, False)
        check_seg_num_classes(seg_cfg, stage1_num_classes(self.cls_cfg()), self.seg_config,
                              self.cls_config)

    # ----------------------------------------------------------------- stages
    def run(self):
        """Run every unfinished stage and return the results table (a list of rows)."""
        self.check_inputs()
        self.check_class_counts()
        for stage in STAGES:
            if not stage.enabled(self):
                continue
            if stage.name in self.state:
                print_log(f'[pipeline] {stage.name}: done before, skipped', logger='current')
                continue
            print_log(f'[pipeline] {stage.name}: running', logger='current')
            self._finish(stage.name, self._name_split(stage.name, stage.run(self)))
        rows = self.table()
        if is_main_process():
            text = format_table(rows)
            print(text, flush=True)
            atomic_write_text(osp.join(self.work_dir, 'results.md'), text + '\n')
            atomic_write_text(osp.join(self.work_dir, 'results.json'),
                              json.dumps(rows, indent=2))
        return rows

    def run_stage(self, name):
        """Run the stage ``name`` (finished or not) and return its results, unsaved."""
        stages = {stage.name: stage for stage in STAGES}
        if name not in stages:
            raise KeyError(f'unknown pipeline stage {name!r}; expected one of {self.STAGES}')
        return stages[name].run(self)

    def write_background_masks(self, out_dir, kind='pseudo_label'):
        """:func:`write_background_masks` of the stage-1 config's pseudo-label split."""
        return write_background_masks(self.cls_cfg(), out_dir, kind=kind)

    def _name_split(self, stage, results):
        """Add ``split`` and split-named metrics (``seg/val/mIoU``) to a measuring stage's
        results (the plain keys stay), and log them."""
        if stage not in STAGE_SPLITS:
            return results
        task, role = STAGE_SPLITS[stage]
        if stage == 'masks':
            cfg = self.aff_cfg()
        elif stage.startswith('segmentation'):
            cfg = self._load_config(self.seg_config, self.seg_cfg_options,
                                    self.stage_dir(stage), False)
        else:
            cfg = self.cls_cfg()
        try:
            split = split_name(split_dataloader(cfg, role), role or 'pseudo_label')
        except KeyError:  # the config has no such dataloader: name the role
            split = role or 'pseudo_label'
        metrics = results.get('metrics') or {'mIoU': results.get('mIoU')}
        results = dict(results, split=split, metrics=add_split_keys(
            {k: v for k, v in metrics.items() if v is not None}, split, task))
        named = {k: v for k, v in results['metrics'].items()
                 if k.count('/') == 2 and k.split('/')[-1] in ('mIoU', 'mAP', 'precision',
                                                               'recall', 'best_threshold')}
        print_log(f'[pipeline] {stage} ({split} split): '
                  + ', '.join(f'{k}={v:.2f}' for k, v in named.items()), logger='current')
        return results

    def aff_cfg(self, resume=False):
        """The affinity config (work dir ``affinity/``) reading the maps beside the seeds."""
        cfg = self._load_config(self.aff_config, self.aff_cfg_options,
                                self.stage_dir('affinity'), resume)
        set_maps_dir(cfg, self.state['pseudo_labels']['out_dir'])
        return cfg

    def stage1_gt_dir(self, required=True):
        """The GT masks of the training split (SegmentationClassAug on VOC: SBD's masks of
        train_aug), as the stage-1 config's train dataset reads them."""
        dataset = unwrap_dataset_cfg(self.cls_cfg().train_dataloader)
        gt_dir = (dataset.get('data_prefix') or {}).get('seg_map_path')
        if not gt_dir and not required:
            return None
        if not gt_dir:
            raise KeyError(f'{self.cls_config}: train_dataloader.dataset.data_prefix has no '
                           'seg_map_path (the GT masks of the training split)')
        return osp.abspath(osp.join(dataset.get('data_root') or '', gt_dir))

    # ------------------------------------------------------------------ table
    def table(self):
        """Rows ``dict(metric, ours, paper_voc)`` of what has been measured so far."""
        s = self.state
        ours = {
            'cls_mAP': s.get('seeds', {}).get('cls_mAP'),
            'seed_mIoU': s.get('seeds', {}).get('seed_mIoU'),
            'pseudo_mIoU': s.get('pseudo_eval', {}).get('pseudo_mIoU'),
            'mask_mIoU': s.get('masks', {}).get('mask_mIoU'),
            'seg_mIoU': s.get('segmentation', {}).get('mIoU'),
            'seg_gt_mIoU': s.get('segmentation_gt', {}).get('mIoU'),
        }
        rows = []
        papers = paper_voc() if self._is_voc() else {}
        for key, name in ROW_NAMES.items():
            if key in ('seg_gt_mIoU', 'mask_mIoU') and ours[key] is None:
                continue
            paper, paper_split = papers.get(key, (None, None))
            if key == 'pseudo_mIoU' and ours['mask_mIoU'] is not None:
                paper = None  # the paper's masks are the mask row's: its seeds are not masks
            if key == 'seg_mIoU' and s.get('segmentation', {}).get('gt_masks'):
                name += ' [trained on GT masks: not a WSSS result]'
            stage, task_name = ROW_METRICS[key]
            split = s.get(stage, {}).get('split')
            rows.append(dict(metric=name, key=key, ours=ours[key], paper_voc=paper,
                             split=split, name=split_key(task_name, split) if split else None,
                             paper_split=paper_split if paper is not None else None))
        return rows

    def _is_voc(self):
        """Whether stage 1 trains on VOC, the dataset of the paper's numbers in the table."""
        if self.cls_config is None:  # a state read without its configs (aggregate_runs)
            return False
        dataset = unwrap_dataset_cfg(load_config(self.cls_config,
                                                 self.cfg_options).train_dataloader)
        return dataset.get('type') in ('VOCWSSSDataset', 'mmseg.VOCWSSSDataset')


def paper_voc():
    """The paper's VOC numbers per table row, from the installed metafile.

    Returns:
        dict: ``{row key: (value, split)}`` for the rows of :data:`PAPER_VOC_METRICS`, the split
        read from the metric's ``task/split/name``.
    """
    metrics = read_metafile_metrics(PAPER_VOC_MODEL, PAPER_VOC_METRICS.values())
    return {row: (metrics[name], name.split('/')[1]) for row, name in PAPER_VOC_METRICS.items()}


def format_table(rows):
    """Markdown table of :meth:`WSSSPipeline.table` rows; the paper's column only on VOC."""
    def fmt(v, split=None):
        return '-' if v is None else f'{v:.1f}' + (f' ({split})' if split else '')
    if not any(r['paper_voc'] is not None for r in rows):
        lines = ['| metric | name | ours |', '| --- | --- | ---: |']
        return '\n'.join(lines + [f"| {r['metric']} | {r.get('name') or '-'} | {fmt(r['ours'])} |"
                                  for r in rows])
    lines = ['| metric | name | ours | paper (VOC) |', '| --- | --- | ---: | ---: |']
    lines += [f"| {r['metric']} | {r.get('name') or '-'} | {fmt(r['ours'])} | "
              f"{fmt(r['paper_voc'], r.get('paper_split'))} |" for r in rows]
    return '\n'.join(lines)
