"""Write the seed masks of a whole split as palette PNGs (the pseudo labels of the next stage).

MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation
(https://arxiv.org/abs/2308.03005), Sec. 3: the seeds of the training images become the labels of
a fully supervised segmentation network.
"""
import copy
import os.path as osp
from typing import Optional

from mmengine.dist import barrier, broadcast_object_list, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from mmseg.registry import DATASETS, HOOKS

from ...evaluation.metrics.pseudo_label_metric import pending_indices, pseudo_label_dir
from ...utils.checkpoint import checkpoint_record


def prepare_pseudo_label_dir(out_dir: str, record: dict, overwrite: bool = False) -> None:
    """On the main process: remove stale temporary files and check ``out_dir`` against ``record``
    (:func:`~mmseg_mctformer.evaluation.metrics.pseudo_label_metric.check_pseudo_label_dir`); then
    every rank raises its error, if any (:meth:`mmseg_mctformer.utils.label_dir.LabelDir.prepare`).
    """
    pseudo_label_dir(out_dir).prepare(record, overwrite)


def subset_dataset(dataset, indices):
    """``dataset`` restricted to ``indices``: a config gets ``indices`` (``BaseDataset``), a built
    dataset its ``get_subset``."""
    if isinstance(dataset, dict):
        return dict(copy.deepcopy(dataset), indices=list(indices))
    return dataset.get_subset(list(indices))


def pseudo_label_loop(runner, dataloader: dict, indices, metric: dict,
                      fp16: bool = False) -> TestLoop:
    """A ``TestLoop`` of ``runner`` over ``indices`` of ``dataloader``'s dataset, evaluated by
    ``metric`` (a :class:`PseudoLabelMetric` config); ``fp16``: the loop's mixed precision
    (mmengine's ``autocast``: bfloat16 on a CPU).

    The runner builds the dataloader with an unshuffled ``DefaultSampler`` without padding
    (``round_up=False``): in a distributed run rank r of w labels the r-th, (r + w)-th, ...
    pending images.
    """
    loader = copy.copy(dict(dataloader))
    loader.pop('batch_sampler', None)
    loader.update(dataset=subset_dataset(loader['dataset'], indices),
                  sampler=dict(type='DefaultSampler', shuffle=False, round_up=False))
    if not loader.get('num_workers'):
        loader.pop('persistent_workers', None)
    return TestLoop(runner, loader, [metric], fp16=fp16)


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """Generate the seed masks (pseudo labels) of a split with the current model.

    A thin trigger: :meth:`generate` runs a ``TestLoop`` of the runner over the images whose mask
    is still missing, with :class:`~mmseg_mctformer.evaluation.PseudoLabelMetric` as evaluator
    (the writer: atomic palette PNGs, 0 = background, c + 1 = class c). Put it in
    ``custom_hooks`` to label the split when training ends (``after_train``);
    ``tools/make_pseudo_labels.py`` drives the same loop through ``Runner.test()``.

    - Resumable: a rerun labels only the images whose PNG is missing, does not decode or has the
      wrong size (or whose ``.npz`` is missing with ``save_logits``); stale temporary files of a
      killed run are removed first.
    - Recorded: ``{out_dir}/pseudo_label_info.json`` holds what produced the folder (checkpoint,
      config, threshold, map settings ``test_cfg``, CRF). A run with other settings is refused
      with a ``ValueError`` naming the differences, or, with ``overwrite=True``, deletes the old
      masks and regenerates them.
    - Distributed: the runner's ``DefaultSampler`` shards the pending images over the ranks.

    Args:
        dataloader (dict): Dataloader config of the split to label, like a test dataloader
            (``dataset``, ``batch_size``, ``num_workers``, ...; the ``sampler`` is replaced). Its
            dataset must give image labels (``gt_class_labels``) and ``img_path``.
        out_dir (str, optional): Output folder; ``{work_dir}`` is replaced by the runner's work
            dir. Default: ``None``, which means ``{work_dir}/pseudo_labels``.
        bg_threshold (float, optional): Background threshold of the seeds. Default: ``None``,
            which uses the model's ``test_cfg.bg_threshold`` (stored in every prediction).
        after_train (bool): Whether to generate when training ends. Default: True.
        save_logits (bool): Also save ``{basename}.npz`` with the maps of the kept classes.
            Default: False.
        crf (dict, optional): Dense-CRF post-processing (see :class:`PseudoLabelMetric`).
            Default: ``None`` (no CRF).
        overwrite (bool): Regenerate a folder made with other settings instead of refusing.
            Default: False.
        checkpoint (str, optional): The weights being used, for the record. Default: None (the
            runner's weights at the end of training: its work dir and iteration).
        fp16 (bool): Run the model under mmengine's ``autocast`` (bfloat16 on a CPU, float16
            with CUDA), as ``TestLoop(fp16=True)``; recorded as ``precision``, so that a folder
            is not resumed in another precision. Default: False (float32).
    """
    priority = 'LOW'

    def __init__(self,
                 dataloader: dict,
                 out_dir: Optional[str] = None,
                 bg_threshold: Optional[float] = None,
                 after_train: bool = True,
                 save_logits: bool = False,
                 crf: Optional[dict] = None,
                 overwrite: bool = False,
                 checkpoint: Optional[str] = None,
                 fp16: bool = False) -> None:
        if not isinstance(dataloader, dict) or 'dataset' not in dataloader:
            raise TypeError('PseudoLabelHook: `dataloader` must be a dataloader config dict with '
                            f'a "dataset" key, got {type(dataloader).__name__}: {dataloader!r}')
        if bg_threshold is not None and not 0 <= float(bg_threshold) <= 1:
            raise ValueError('PseudoLabelHook: `bg_threshold` must lie in [0, 1] (the maps are '
                             f'normalised to [0, 1]), got {bg_threshold}')
        self.dataloader_cfg = dataloader
        self.out_dir = out_dir
        self.bg_threshold = None if bg_threshold is None else float(bg_threshold)
        self.run_after_train = after_train
        self.save_logits = save_logits
        self.crf = crf
        self.overwrite = overwrite
        self.checkpoint = checkpoint
        self.fp16 = fp16

    def after_train(self, runner) -> None:
        """Generate the pseudo labels once training has finished (if ``after_train``)."""
        if self.run_after_train:
            self.generate(runner)

    def resolve_out_dir(self, runner) -> str:
        """The output folder for ``runner``."""
        work_dir = getattr(runner, 'work_dir', '.')
        if self.out_dir is None:
            return osp.join(work_dir, 'pseudo_labels')
        return self.out_dir.replace('{work_dir}', str(work_dir))

    def build_dataset(self):
        """Build (and fully initialise) the dataset of ``dataloader``."""
        dataset = self.dataloader_cfg['dataset']
        if isinstance(dataset, dict):
            dataset = DATASETS.build(copy.deepcopy(dataset))
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        return dataset

    def metric_cfg(self, out_dir: str) -> dict:
        """Config of the :class:`PseudoLabelMetric` that writes into ``out_dir``."""
        return dict(type='PseudoLabelMetric', output_dir=out_dir, bg_threshold=self.bg_threshold,
                    save_logits=self.save_logits, crf=self.crf)

    def record(self, runner) -> dict:
        """What produces the masks (see :func:`check_pseudo_label_dir`), JSON-able."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        test_cfg = dict(getattr(model, 'test_cfg', None) or {})
        checkpoint = dict(checkpoint=self.checkpoint)
        if self.checkpoint is None:
            checkpoint['checkpoint'] = (
                f'weights of {osp.abspath(getattr(runner, "work_dir", "."))} at the end of '
                f'training (iteration {getattr(runner, "iter", "?")})')
        elif osp.isfile(self.checkpoint):
            checkpoint = checkpoint_record(self.checkpoint)
        cfg = getattr(runner, 'cfg', None)
        record = dict(
            **checkpoint,
            config=getattr(cfg, 'filename', None),
            bg_threshold=(self.bg_threshold if self.bg_threshold is not None else
                          test_cfg.get('bg_threshold')),
            test_cfg={k: (list(v) if isinstance(v, tuple) else v) for k, v in test_cfg.items()},
            crf=self.crf,
            save_logits=self.save_logits)
        if self.fp16:  # no 'precision' key = float32
            record['precision'] = 'mixed (autocast)'
        return record

    def prepare(self, runner):
        """Check the output folder and list the pending images (the main process's list, on
        every rank).

        Returns:
            tuple: ``(out_dir, dataset, pending indices)``.
        """
        out_dir = self.resolve_out_dir(runner)
        prepare_pseudo_label_dir(out_dir, self.record(runner), self.overwrite)
        dataset = self.build_dataset()
        # the main process lists the folder and every rank shards that list: a rank listing it
        # itself could see images another rank has already written, and shard another list
        todo = [pending_indices(dataset, out_dir, self.save_logits)
                if is_main_process() else None]
        broadcast_object_list(todo)
        return out_dir, dataset, todo[0]

    def _summary(self, out_dir, dataset, todo) -> dict:
        rank, world_size = get_dist_info()
        written = len(range(rank, len(todo), world_size))
        print_log(f'PseudoLabelHook: rank {rank}/{world_size} labels {written} images into '
                  f'{out_dir} ({len(dataset) - len(todo)} already done)', logger='current')
        return dict(out_dir=out_dir, written=written, skipped=len(dataset) - len(todo))

    def generate(self, runner) -> dict:
        """Label the pending images of the split with ``runner.model``.

        Args:
            runner (Runner): Provides ``model`` (its ``test_step`` returns the predictions of
                ``MCTformer.predict``), ``work_dir`` and ``build_dataloader`` /
                ``build_evaluator`` for the ``TestLoop``.

        Returns:
            dict: ``out_dir``, ``written`` (images labelled by this rank) and ``skipped``
            (images already done).
        """
        out_dir, dataset, todo = self.prepare(runner)
        result = self._summary(out_dir, dataset, todo)
        if todo:
            loop = pseudo_label_loop(runner, dict(self.dataloader_cfg, dataset=dataset), todo,
                                     self.metric_cfg(out_dir), fp16=self.fp16)
            model = runner.model
            was_training = model.training
            # hooks that read runner.test_dataloader (logger, timer) see this loop's
            saved_loop, runner._test_loop = runner._test_loop, loop
            try:
                loop.run()
            finally:
                runner._test_loop = saved_loop
                model.train(was_training)
        barrier()
        return result
