"""Write the seed masks of a whole split as palette PNGs (the pseudo labels of the next stage).

MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation
(https://arxiv.org/abs/2308.03005), Sec. 3: the seeds of the training images become the labels of
a fully supervised segmentation network.
"""
import os.path as osp
from typing import Optional

from mmengine.dist import barrier
from mmengine.hooks import Hook
from mmseg.registry import HOOKS, LOOPS

from ...utils.checkpoint import checkpoint_record
from ...utils.console import print_log_once
from ..runner.runner_utils import set_bg_threshold


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """Generate the seed masks (pseudo labels) of a split with the current model.

    A thin trigger: :meth:`generate` runs a
    :class:`~mmseg_mctformer.engine.runner.PseudoLabelLoop` of the runner over the images whose
    mask is still missing, with :class:`~mmseg_mctformer.evaluation.PseudoLabelMetric` as
    evaluator (the writer: atomic palette PNGs, 0 = background, c + 1 = class c). Put it in
    ``custom_hooks`` to label the split when training ends (``after_train``);
    ``tools/make_pseudo_labels.py`` runs the same loop as the test loop of ``Runner.test()``
    (:meth:`loop_cfg`).

    - Resumable: a rerun labels only the images whose PNG is missing, does not decode or has the
      wrong size (or whose ``.npz`` is missing with ``save_logits``); stale temporary files of a
      killed run are removed first.
    - Recorded: ``{out_dir}/pseudo_label_info.json`` holds what produced the folder (checkpoint,
      config, threshold, map settings ``test_cfg``, CRF). A run with other settings is refused
      with a ``ValueError`` naming the differences, or, with ``overwrite=True``, deletes the old
      masks and regenerates them.
    - Distributed: the runner's ``DefaultSampler`` shards the pending images over the ranks.
    - One threshold: the masks use the background threshold of the model's
      ``test_cfg.bg_threshold``, which every prediction carries (``--bg-threshold`` of the tools
      and the pipeline's best threshold are written there by
      :func:`~mmseg_mctformer.engine.runner.set_bg_threshold`).

    Args:
        dataloader (dict): Dataloader config of the split to label, like a test dataloader
            (``dataset``, ``batch_size``, ``num_workers``, ...; the ``sampler`` is replaced). Its
            dataset must give image labels (``gt_class_labels``) and ``img_path``.
        out_dir (str, optional): Output folder; ``{work_dir}`` is replaced by the runner's work
            dir. Default: ``None``, which means ``{work_dir}/pseudo_labels``.
        bg_threshold (float, optional): Deprecated: set ``model.test_cfg.bg_threshold``.
            When given, it is written into the model's ``test_cfg`` at ``before_run`` (and
            before :meth:`generate`), so that it is the threshold of the whole run, with a
            warning once a process. Default: ``None`` (the model's threshold).
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
        if self.bg_threshold is not None:
            print_log_once(('PseudoLabelHook', 'bg_threshold'),
                           'PseudoLabelHook: bg_threshold is deprecated, set '
                           'model.test_cfg.bg_threshold (tools: --bg-threshold); the hook writes '
                           f'{self.bg_threshold} into the model\'s test_cfg for the run')
        self.run_after_train = after_train
        self.save_logits = save_logits
        self.crf = crf
        self.overwrite = overwrite
        self.checkpoint = checkpoint
        self.fp16 = fp16

    def before_run(self, runner) -> None:
        """Write the deprecated ``bg_threshold`` argument, if given, into the model's
        ``test_cfg``: the one threshold of the run."""
        set_bg_threshold(runner.model, self.bg_threshold)

    def after_train(self, runner) -> None:
        """Generate the pseudo labels once training has finished (if ``after_train``)."""
        if self.run_after_train:
            self.generate(runner)

    def resolve_out_dir(self, work_dir: str) -> str:
        """The output folder for a run in ``work_dir``."""
        if self.out_dir is None:
            return osp.join(work_dir, 'pseudo_labels')
        return self.out_dir.replace('{work_dir}', str(work_dir))

    def metric_cfg(self, out_dir: str) -> dict:
        """Config of the :class:`PseudoLabelMetric` that writes into ``out_dir``."""
        return dict(type='PseudoLabelMetric', output_dir=out_dir, save_logits=self.save_logits,
                    crf=self.crf)

    def record(self, work_dir: str, config: Optional[str] = None, iteration='?') -> dict:
        """What produces the masks (see :meth:`~mmseg_mctformer.utils.label_dir.LabelDir.check`),
        JSON-able; :class:`PseudoLabelLoop` adds the model's ``test_cfg`` and its threshold
        (``bg_threshold``).

        Args:
            work_dir (str): The run's work dir.
            config (str, optional): The config file. Default: None.
            iteration (int | str): The training iteration of the weights, when no
                ``checkpoint`` names them. Default: ``'?'``.
        """
        checkpoint = dict(checkpoint=self.checkpoint)
        if self.checkpoint is None:
            checkpoint['checkpoint'] = (f'weights of {osp.abspath(work_dir)} at the end of '
                                        f'training (iteration {iteration})')
        elif osp.isfile(self.checkpoint):
            checkpoint = checkpoint_record(self.checkpoint)
        record = dict(**checkpoint, config=config, bg_threshold=None, test_cfg=None, crf=self.crf,
                      save_logits=self.save_logits)
        if self.fp16:  # no 'precision' key = float32
            record['precision'] = 'mixed (autocast)'
        return record

    def loop_cfg(self, work_dir: str, config: Optional[str] = None, iteration='?') -> dict:
        """``test_cfg`` of the :class:`~mmseg_mctformer.engine.runner.PseudoLabelLoop` that
        labels the split into :meth:`resolve_out_dir` (its dataloader is ``dataloader``, its
        evaluator :meth:`metric_cfg`). Arguments as :meth:`record`."""
        return dict(type='PseudoLabelLoop', out_dir=self.resolve_out_dir(work_dir),
                    record=self.record(work_dir, config, iteration), kind='pseudo_label',
                    overwrite=self.overwrite, save_logits=self.save_logits, fp16=self.fp16)

    @staticmethod
    def result(loop) -> dict:
        """``out_dir``, ``written`` (images labelled by this rank) and ``skipped`` (images
        already done) of a :class:`PseudoLabelLoop`."""
        return {k: loop.summary[k] for k in ('out_dir', 'written', 'skipped')}

    def generate(self, runner) -> dict:
        """Label the pending images of the split with ``runner.model``.

        Args:
            runner (Runner): Provides ``model`` (its ``test_step`` returns the predictions of
                ``MCTformer.predict``), ``work_dir`` and ``build_dataloader`` /
                ``build_evaluator`` for the loop.

        Returns:
            dict: See :meth:`result`.
        """
        self.before_run(runner)  # idempotent: a generate() outside a run gets the threshold too
        loop_cfg = self.loop_cfg(runner.work_dir, getattr(getattr(runner, 'cfg', None),
                                                          'filename', None), runner.iter)
        loop = LOOPS.build(loop_cfg, default_args=dict(
            runner=runner, dataloader=self.dataloader_cfg,
            evaluator=self.metric_cfg(loop_cfg['out_dir'])))
        loop.run_beside()
        barrier()
        return self.result(loop)
