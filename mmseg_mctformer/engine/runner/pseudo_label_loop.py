"""The test loop that fills a label folder: the images whose mask is still missing, sharded over
the ranks, with a writer metric as evaluator."""
import copy
from typing import Dict, List, Union

from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from mmseg.registry import DATASETS, LOOPS

from ...utils.label_dir import LabelDir


def build_full_dataset(dataset):
    """``dataset`` built from its config (a built one is kept) and fully initialised."""
    if isinstance(dataset, dict):
        dataset = DATASETS.build(copy.deepcopy(dataset))
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    return dataset


def subset_dataset(dataset, indices):
    """``dataset`` restricted to ``indices``: a config gets ``indices`` (``BaseDataset``), a built
    dataset its ``get_subset``."""
    if isinstance(dataset, dict):
        return dict(copy.deepcopy(dataset), indices=list(indices))
    return dataset.get_subset(list(indices))


class _HookRunner:
    """The runner as the hooks of a :class:`PseudoLabelLoop` see it when the loop runs beside the
    runner's own loops (:class:`~mmseg_mctformer.engine.PseudoLabelHook` after training): every
    attribute is the runner's, except ``test_loop`` / ``test_dataloader``, which are the loop's
    (mmengine's ``LoggerHook`` and ``IterTimerHook`` read the length of ``test_dataloader``)."""

    def __init__(self, runner, loop) -> None:
        self._runner = runner
        self._loop = loop

    def __getattr__(self, name):
        return getattr(self._runner, name)

    @property
    def test_loop(self):
        return self._loop

    @property
    def test_dataloader(self):
        return self._loop.dataloader

    def call_hook(self, fn_name: str, **kwargs) -> None:
        """``Runner.call_hook`` with this view as the hooks' runner."""
        for hook in self._runner.hooks:
            if hasattr(hook, fn_name):
                getattr(hook, fn_name)(self, **kwargs)


@LOOPS.register_module()
class PseudoLabelLoop(TestLoop):
    """``TestLoop`` over the images of a split whose mask in ``out_dir`` is missing.

    Built from ``test_cfg = dict(type='PseudoLabelLoop', out_dir=..., record=...)`` by
    ``Runner.test()`` (``tools/make_pseudo_labels.py``, ``tools/make_affinity_masks.py``), or by
    :class:`~mmseg_mctformer.engine.PseudoLabelHook` after training. On construction:

    - the folder (:class:`~mmseg_mctformer.utils.label_dir.LabelDir` of ``kind``) is checked
      against ``record`` and cleared of stale temporary files on the main process
      (:meth:`LabelDir.prepare`; every rank raises the error, if any);
    - the main process lists the pending images (:meth:`LabelDir.shared_pending`) and every rank
      takes its shard of that list through an unshuffled ``DefaultSampler`` without padding
      (``round_up=False``): rank r of w labels the r-th, (r + w)-th, ... pending image.

    The evaluator is the writer (:class:`~mmseg_mctformer.evaluation.PseudoLabelMetric` or
    :class:`~mmseg_mctformer.evaluation.PseudoMaskMetric` with ``format_only=True``) writing into
    ``out_dir``. With nothing pending, :meth:`run` returns ``{}`` without running the model.

    Args:
        runner (Runner): The runner.
        dataloader (dict): Dataloader config of the split (``dataset`` a config or a built
            dataset; ``sampler`` and ``batch_sampler`` are replaced).
        evaluator (dict | list): The writer metric config(s).
        out_dir (str): The label folder.
        record (dict): The settings that produce the masks (JSON-able), see
            :meth:`LabelDir.check`. The loop adds ``test_cfg``, the model's ``test_cfg`` (map or
            random-walk settings) but its ``bg_threshold``, which is recorded once, as
            ``bg_threshold`` (the threshold every prediction carries, which the writers use).
        kind (str): The folder kind, a key of
            :data:`~mmseg_mctformer.utils.label_dir.FOLDER_KINDS`. Default: ``'pseudo_label'``.
        overwrite (bool): Regenerate a folder made with other settings instead of refusing.
            Default: False.
        save_logits (bool): A mask is done only with its ``.npz`` maps. Default: False.
        fp16 (bool): The model runs under mmengine's ``autocast`` (bfloat16 on a CPU).
            Default: False.

    Attributes:
        summary (dict): ``out_dir``, ``pending`` (images of the split to write), ``written``
            (those of this rank) and ``skipped`` (images already done).
    """

    def __init__(self,
                 runner,
                 dataloader: Dict,
                 evaluator: Union[Dict, List],
                 out_dir: str,
                 record: dict,
                 kind: str = 'pseudo_label',
                 overwrite: bool = False,
                 save_logits: bool = False,
                 fp16: bool = False) -> None:
        self._view = None  # the runner as the hooks see it while run_beside() runs
        folder = LabelDir.of(kind, out_dir)
        self.record = self.complete_record(runner.model, record)
        folder.prepare(self.record, overwrite)
        dataset = build_full_dataset(dataloader['dataset'])
        self.pending = folder.shared_pending(dataset, save_logits)
        rank, world_size = get_dist_info()
        written = len(range(rank, len(self.pending), world_size))
        self.summary = dict(out_dir=out_dir, pending=len(self.pending), written=written,
                            skipped=len(dataset) - len(self.pending))
        print_log(f'{folder.kind} folder {out_dir}: rank {rank}/{world_size} writes {written} '
                  f'of {len(self.pending)} pending masks ({self.summary["skipped"]} already '
                  'done)', logger='current')
        loader = copy.copy(dict(dataloader))
        loader.pop('batch_sampler', None)
        loader.update(dataset=subset_dataset(dataset, self.pending),
                      sampler=dict(type='DefaultSampler', shuffle=False, round_up=False))
        if not loader.get('num_workers'):
            loader.pop('persistent_workers', None)
        super().__init__(runner, loader, evaluator, fp16=fp16)

    @property
    def runner(self):
        """The runner; while :meth:`run_beside` runs, the view of it that the hooks see."""
        return self._view if self._view is not None else super().runner

    @staticmethod
    def complete_record(model, record: dict) -> dict:
        """``record`` with the model's ``test_cfg`` (tuples as lists) but its ``bg_threshold``,
        recorded as ``record['bg_threshold']``.

        Raises:
            ValueError: When ``record`` names another threshold than the model's (the masks use
                the model's, which every prediction carries).
        """
        model = model.module if is_model_wrapper(model) else model
        test_cfg = {k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in (getattr(model, 'test_cfg', None) or {}).items()}
        record = dict(record)
        threshold = test_cfg.pop('bg_threshold', None)
        if record.get('bg_threshold') not in (None, threshold):
            raise ValueError(f"PseudoLabelLoop: record['bg_threshold'] = "
                             f"{record['bg_threshold']} but the model's "
                             f"test_cfg.bg_threshold = {threshold}, which the masks use; set the "
                             'threshold in the model (set_bg_threshold)')
        record['bg_threshold'] = threshold
        record['test_cfg'] = test_cfg
        return record

    def run(self) -> dict:
        """Write the pending masks (``TestLoop.run``); ``{}`` when none is pending."""
        if not self.pending:
            return {}
        return super().run()

    def run_beside(self) -> dict:
        """:meth:`run` from a hook of a runner busy with another loop (after training).

        The hooks see this loop as the runner's test loop (the runner itself is not changed)
        and the model's training mode is restored.
        """
        was_training = self.runner.model.training
        self._view = _HookRunner(self.runner, self)
        try:
            return self.run()
        finally:
            self._view = None
            self.runner.model.train(was_training)
