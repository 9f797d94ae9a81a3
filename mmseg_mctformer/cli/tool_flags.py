"""MMSeg's ``tools/test.py`` flags applied to a config (``--out``, ``--show``, ``--show-dir``,
``--tta``), and ours (``--format-only``, ``--crf``), for our metrics and models too."""
import inspect
import os.path as osp

from mmengine.registry import DefaultScope
from mmseg.registry import METRICS

from ..datasets.utils import unwrap_dataset_cfg
from ..engine.runner import sub_config
from ..models.heads.localization_test_cfg import DEFAULT_TEST_CFG as MCTFORMER_TEST_CFG


def _accepts(metric_cfg, arg):
    """Whether the metric class of ``metric_cfg`` takes the keyword ``arg``."""
    name = metric_cfg.get('type')
    with DefaultScope.overwrite_default_scope('mmseg'):
        cls = METRICS.get(name) if isinstance(name, str) else name
    return cls is not None and arg in inspect.signature(cls.__init__).parameters


#: Dataset types whose test split goes to each evaluation server (``--format-only auto``).
SERVER_DATASETS = dict(
    voc=('PascalVOCDataset', 'VOCWSSSDataset', 'DemoWSSSDataset'),
    coco=('COCOWSSSDataset', 'COCOStuffDataset'))


def configure_format_only(cfg, server='auto', out=None):
    """Write the test predictions for an evaluation server instead of scoring them.

    The test evaluator becomes :class:`~mmseg_mctformer.evaluation.SubmissionMetric` (VOC's
    ``results/VOC2012/Segmentation/comp6_test_cls/*.png`` or COCO's result JSON under ``out``),
    and ``LoadAnnotations`` leaves the test pipeline (a server's test images have no masks).

    Args:
        cfg (Config): The config, changed in place.
        server (str): ``'voc'``, ``'coco'`` or ``'auto'`` (from the test dataset's type, see
            :data:`SERVER_DATASETS`). Default: ``'auto'``.
        out (str, optional): Root of the results. Default: None (``{work_dir}/format_only``).

    Returns:
        Config: ``cfg``.
    """
    dataset = unwrap_dataset_cfg(cfg.test_dataloader)
    if server == 'auto':
        kind = dataset.get('type')
        kind = kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))
        matches = [s for s, types in SERVER_DATASETS.items() if kind.split('.')[-1] in types]
        if not matches:
            raise ValueError(f'--format-only: no evaluation server known for the test dataset '
                             f'type {kind!r}; expected one of {SERVER_DATASETS} or --format-only '
                             'voc|coco')
        server = matches[0]
    pipeline = dataset.get('pipeline') or []
    dataset['pipeline'] = [t for t in pipeline if not (
        isinstance(t, dict) and str(t.get('type', '')).split('.')[-1] == 'LoadAnnotations')]
    cfg.test_evaluator = dict(type='SubmissionMetric', server=server,
                              output_dir=out or osp.join(cfg.work_dir, 'format_only'))
    return cfg


def configure_crf(cfg, crf=None):
    """Score the test predictions with and without a dense CRF (:class:`CRFIoUMetric`).

    Every ``IoUMetric`` of ``test_evaluator`` becomes a
    :class:`~mmseg_mctformer.evaluation.CRFIoUMetric` (its other arguments kept), and MMSeg's
    ``SegTTAModel`` becomes :class:`~mmseg_mctformer.models.ProbSegTTAModel` (the CRF then refines
    the averaged multi-scale + flip probabilities).

    Args:
        cfg (Config): The config, changed in place.
        crf (dict, optional): ``num_workers`` (CPU processes for the CRFs) and overrides of
            :data:`~mmseg_mctformer.evaluation.metrics.crf_iou_metric.SEG_CRF_CFG`; merged over
            the config key ``test_crf``. Default: None (``test_crf`` alone).

    Returns:
        Config: ``cfg``.
    """
    settings = dict(cfg.get('test_crf') or {}, **(crf or {}))
    workers = settings.pop('num_workers', None)
    evaluator = cfg.test_evaluator
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    metrics = [dict(m) for m in metrics]
    swapped = 0
    for metric in metrics:
        if str(metric.get('type')).split('.')[-1] in ('IoUMetric', 'CRFIoUMetric'):
            metric.update(type='CRFIoUMetric', crf=settings)
            if workers is not None:
                metric['num_workers'] = workers
            swapped += 1
    if not swapped:
        raise KeyError('--crf / test_crf need an IoUMetric in test_evaluator, got types '
                       f"{[m.get('type') for m in metrics]}")
    cfg.test_evaluator = metrics if isinstance(evaluator, (list, tuple)) else metrics[0]
    if cfg.model.get('type') == 'SegTTAModel':
        cfg.model.type = 'ProbSegTTAModel'
    return cfg


def configure_test(cfg, out=None, show=False, wait_time=2.0, show_dir=None, tta=False):
    """Apply MMSeg's ``tools/test.py`` flags to a config, for our metrics too.

    - ``out``: as MMSeg, the metrics that take ``output_dir`` (``IoUMetric``...) save their
      predictions there (``keep_results=True``). An evaluator without such a metric (the
      stage-1 ``SeedMetric`` / ``MultiLabelMAPMetric``) gets a
      :class:`~mmseg_mctformer.evaluation.PseudoLabelMetric` that writes the seed PNGs there.
    - ``show`` / ``wait_time`` / ``show_dir``: as MMSeg, ``default_hooks.visualization`` draws
      every prediction, shows it for ``wait_time`` seconds or saves it under
      ``{work_dir}/{show_dir}`` (the visualizer's ``save_dir``: ``vis_data/vis_image/*.png``).
    - ``tta``: as MMSeg with the config's ``tta_pipeline`` and ``tta_model``. An ``MCTformer``
      without them does its own test-time augmentation: ``model.test_cfg`` gets the paper's
      scales (1.0, 0.5, 1.5, 2.0) and flip.

    Args:
        cfg (Config): The config, changed in place.
        out (str, optional): Output folder of ``--out``. Default: None.
        show (bool): Show the predictions. Default: False.
        wait_time (float): Seconds each shown prediction stays. Default: 2.0.
        show_dir (str, optional): Folder of the drawn predictions. Default: None.
        tta (bool): Test-time augmentation. Default: False.

    Returns:
        Config: ``cfg``.
    """
    if show or show_dir:
        hooks = cfg.get('default_hooks') or {}
        if 'visualization' not in hooks:
            raise KeyError('--show / --show-dir need default_hooks.visualization in the config '
                           "(e.g. dict(type='SegVisualizationHook'))")
        hooks['visualization'].update(draw=True, interval=1)
        if show:
            hooks['visualization'].update(show=True, wait_time=wait_time)
        if show_dir:  # relative to the work dir (an absolute path stays)
            cfg.visualizer['save_dir'] = osp.join(cfg.work_dir, show_dir)
    if tta:
        if cfg.get('tta_pipeline') and cfg.get('tta_model'):
            cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
            cfg.tta_model.module = cfg.model
            cfg.model = cfg.tta_model
        elif cfg.model.get('type') == 'MCTformer':
            sub_config(cfg.model, 'test_cfg').update(
                scales=MCTFORMER_TEST_CFG['scales'], flip=True)
        else:
            raise KeyError('--tta needs tta_pipeline and tta_model in the config '
                           f"(model type {cfg.model.get('type')!r})")
    if out is not None:
        evaluator = cfg.test_evaluator
        metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
        metrics = [dict(m) for m in metrics]
        takers = [m for m in metrics if _accepts(m, 'output_dir')]
        for metric in takers:  # as MMSeg's tools/test.py
            metric.update(output_dir=out, keep_results=True)
        if not takers:
            metrics.append(dict(type='PseudoLabelMetric', output_dir=out))
        cfg.test_evaluator = metrics if isinstance(evaluator, (list, tuple)) else (
            metrics[0] if len(metrics) == 1 else metrics)
    return cfg
