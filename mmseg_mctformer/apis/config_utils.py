"""Config handling shared by the tools: the same rules as MMSeg's ``tools/train.py``."""
import ast
import itertools
import logging
import os.path as osp

from mmengine.config import Config
from mmengine.logging import print_log

from ..utils.console import DropParamwiseOptions, quiet_console_handlers
from .config_variables import TOP_LEVEL_VARIABLES, check_config_paths, sync_top_level_variables

#: Numbers that make the visualizer name of each runner of a process unique.
_RUNNER_IDS = itertools.count()


def load_config(path, cfg_options=None, work_dir=None, launcher='none', amp=False, resume=False,
                check_paths=False):
    """Read a config and apply the command-line overrides, as MMSeg's tools do.

    Args:
        path (str): Config file. ``mmseg::`` bases resolve once ``mmseg_mctformer`` is imported.
        cfg_options (dict, optional): ``--cfg-options`` key-value overrides. Default: None.
        work_dir (str, optional): Overrides ``cfg.work_dir``; when both are unset the work dir is
            ``./work_dirs/<config name>``. Default: None.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``. Default: ``'none'``.
        amp (bool): Mixed-precision training (:func:`enable_amp`): an ``OptimWrapper`` becomes
            ``AmpOptimWrapper`` with CUDA, ``AutocastOptimWrapper`` (bfloat16) without.
            Default: False.
        resume (bool): Resume from the latest checkpoint of the work dir. Default: False.
        check_paths (bool): Check that the weights a training starts from exist
            (:func:`check_config_paths`). Default: False.

    The top-level ``num_classes``, ``pretrained`` and ``data_root`` reach the keys they stand
    for (:func:`sync_top_level_variables`), from the file and from ``cfg_options``.

    Returns:
        mmengine.Config: The config to build the runner from.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    sync_top_level_variables(cfg)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(parse_dict_values(cfg_options))
        sync_top_level_variables(cfg, forced=set(cfg_options) & set(TOP_LEVEL_VARIABLES))
        if 'pseudo_label_dir' in cfg_options:  # the configs read it when they are parsed
            set_pseudo_label_dir(cfg, cfg.pseudo_label_dir)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    if amp:
        enable_amp(cfg)
    cfg.resume = resume
    if resume:
        resolve_resume_checkpoint(cfg)
    if launcher != 'none':
        adapt_distributed_to_cpu(cfg)
    if check_paths:
        check_config_paths(cfg)
    return cfg


def set_pseudo_label_dir(cfg, path):
    """Point the training masks of a segmentation config at the pseudo-label folder ``path``.

    The DeepLab configs write ``seg_map_path=pseudo_label_dir`` when they are parsed, so a later
    ``--cfg-options pseudo_label_dir=...`` alone would not reach the dataset; :func:`load_config`
    calls this for it. Sets ``train_dataloader.dataset`` (through ``RepeatDataset``-like
    wrappers) ``data_prefix.seg_map_path`` and the top-level ``pseudo_label_dir``.
    """
    dataset = cfg.train_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset.dataset
    dataset.setdefault('data_prefix', {})['seg_map_path'] = path
    cfg.pseudo_label_dir = path
    return cfg


def set_init_from_stage1(cfg, checkpoint, prefix='backbone.'):
    """Load the stage-1 checkpoint into the module a segmentation config names.

    A config that declares ``init_from_stage1 = 'model.backbone.context_path'`` (a dotted path to
    a module config) starts that module from the stage-1 network's weights:
    ``init_cfg = dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix)``.

    Args:
        cfg (mmengine.Config): The segmentation config.
        checkpoint (str): The stage-1 checkpoint.
        prefix (str): Prefix of the module's keys in the checkpoint. Default: ``'backbone.'``.

    Returns:
        bool: Whether the config declared ``init_from_stage1`` (and was changed).
    """
    path = cfg.get('init_from_stage1')
    if not path:
        return False
    node = cfg
    for key in path.split('.'):
        if not isinstance(node, (dict, Config)) or key not in node:
            raise KeyError(f'init_from_stage1={path!r}: the config has no {key!r} there')
        node = node[key]
    if not isinstance(node, dict) or 'type' not in node:
        raise KeyError(f'init_from_stage1={path!r} is not a module config (no "type")')
    node['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix)
    return True


def _literal_dict(text):
    """``{...}`` or ``dict(k=v, ...)`` with literal values -> dict; anything else -> None."""
    text = text.strip()
    if not text.startswith(('{', 'dict(')):
        return None
    try:
        node = ast.parse(text, mode='eval').body
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == 'dict' and not node.args:
            return {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        value = ast.literal_eval(node)
    except (SyntaxError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def parse_dict_values(options):
    """Turn the dicts that ``--cfg-options`` left as strings into dicts.

    mmengine's ``DictAction`` parses ``key=[a,b]`` into lists but keeps ``dict(type='X')`` or
    ``{'type': 'X'}`` as strings, so ``visualizer.vis_backends=[dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend')]`` would fail in the visualizer. Literal dicts (in lists
    and tuples too) are parsed; every other value is kept as it is.

    Args:
        options (dict): ``--cfg-options`` as parsed by ``DictAction``.

    Returns:
        dict: The same keys with parsed values.
    """
    def parse(value):
        if isinstance(value, str):
            parsed = _literal_dict(value)
            return value if parsed is None else parsed
        if isinstance(value, (list, tuple)):
            return type(value)(parse(v) for v in value)
        return value
    return {key: parse(value) for key, value in options.items()}


def _accepts(metric_cfg, arg):
    """Whether the metric class of ``metric_cfg`` takes the keyword ``arg``."""
    import inspect

    from mmengine.registry import DefaultScope
    from mmseg.registry import METRICS
    name = metric_cfg.get('type')
    with DefaultScope.overwrite_default_scope('mmseg'):
        cls = METRICS.get(name) if isinstance(name, str) else name
    return cls is not None and arg in inspect.signature(cls.__init__).parameters


#: Dataset types whose test split goes to each evaluation server (``--format-only auto``).
SERVER_DATASETS = dict(
    voc=('PascalVOCDataset', 'VOCWSSSDataset', 'DemoWSSSDataset'),
    coco=('COCOWSSSDataset', 'COCOStuffDataset'))


def _leaf_dataset(loader):
    dataset = loader['dataset']
    while 'dataset' in dataset:
        dataset = dataset['dataset']
    return dataset


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
    dataset = _leaf_dataset(cfg.test_dataloader)
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
            from ..models.heads.localization_test_cfg import DEFAULT_TEST_CFG
            cfg.model.setdefault('test_cfg', {}).update(
                scales=DEFAULT_TEST_CFG['scales'], flip=True)
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


def resolve_resume_checkpoint(cfg):
    """Set ``cfg.load_from`` to the checkpoint that ``--resume`` continues from.

    mmengine reads ``work_dir/last_checkpoint`` and, when it is missing, trains from scratch
    with an info line; a truncated checkpoint fails deep in ``torch.load``. Here the newest
    complete checkpoint is taken (with a warning when ``last_checkpoint`` is missing, dangling
    or names a truncated file, see
    :func:`mmseg_mctformer.utils.checkpoint.find_resume_checkpoint`), an explicit ``load_from``
    is checked to be complete, and starting from scratch is said as a warning.
    """
    from ..utils.checkpoint import find_resume_checkpoint, is_complete_checkpoint
    if cfg.get('load_from'):
        if osp.isfile(cfg.load_from) and not is_complete_checkpoint(cfg.load_from):
            raise RuntimeError(f'cannot resume from {cfg.load_from}: the file is truncated or '
                               'unreadable')
        return cfg
    cfg.load_from = find_resume_checkpoint(cfg.work_dir)
    if cfg.load_from is None:
        print_log(f'--resume: no checkpoint in {cfg.work_dir}; training starts from scratch',
                  logger='current', level=logging.WARNING)
    return cfg


def adapt_distributed_to_cpu(cfg):
    """Let a distributed config run on machines without CUDA; a no-op where CUDA is available.

    mmengine assumes GPUs for distributed runs (NCCL, ``torch.cuda.set_device``, DDP with
    ``device_ids``). Without CUDA this switches ``env_cfg.dist_cfg.backend`` to gloo and wraps the
    model in DDP without ``device_ids``; :func:`build_runner` then starts the gloo process group
    itself.
    """
    import torch
    if torch.cuda.is_available():
        return
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        print_log('CUDA is not available: distributed backend nccl -> gloo', logger='current',
                  level=logging.WARNING)
        dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def _init_cpu_process_group(cfg):
    """Start the process group of a torchrun (``pytorch`` launcher) job on a machine without CUDA.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device``; the Runner skips its own
    initialisation when a process group exists.
    """
    import torch
    import torch.distributed as dist
    if (cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available()
            or not dist.is_available() or dist.is_initialized()):
        return
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend', 'gloo')
    dist.init_process_group(backend=backend)


def close_process_group():
    """Wait for every rank, then shut the process group down; a no-op outside a distributed job.

    Without it a rank that finishes first exits while rank 0 still writes checkpoints, and its
    gloo threads can abort the interpreter ("terminate called without an active exception"),
    which fails the whole torchrun job.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def enable_amp(cfg):
    """Turn on mixed precision, as ``--amp`` of MMSeg's ``tools/train.py``.

    With CUDA: mmengine's ``AmpOptimWrapper`` (float16, dynamic loss scale), as MMSeg does.
    Without (mmengine's ``AmpOptimWrapper`` refuses to start there): our
    :class:`~mmseg_mctformer.engine.AutocastOptimWrapper`, bfloat16 autocast without a loss scaler.
    """
    import torch
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in ('AmpOptimWrapper', 'AutocastOptimWrapper'):
        print_log(f'AMP training is already enabled in the config ({wrapper}).',
                  logger='current', level=logging.WARNING)
        return
    if wrapper != 'OptimWrapper':
        raise ValueError('--amp needs optim_wrapper.type == "OptimWrapper", '
                         f'got optim_wrapper.type == {wrapper!r}')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:
        cfg.optim_wrapper.type = 'AutocastOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'


def enable_amp_inference(cfg):
    """Run the config's validation and test loops in mixed precision: ``fp16=True`` of mmengine's
    ``ValLoop`` / ``TestLoop`` (its ``autocast``: bfloat16 on a CPU).

    ``tools/run_pipeline.py --amp`` on a CPU calls it for every stage (MMSeg's ``tools/train.py
    --amp`` keeps validating in float32). Loops of other types, and the loops of a config without
    that dataloader (no validation: ``val_cfg`` stays unset), are left as they are.
    """
    for key, loader, loop_type in (('val_cfg', 'val_dataloader', 'ValLoop'),
                                   ('test_cfg', 'test_dataloader', 'TestLoop')):
        if cfg.get(loader) is None:
            continue
        if cfg.get(key) is None:
            cfg[key] = dict(type=loop_type)
        loop = cfg[key]
        if isinstance(loop, dict) and loop.get('type', loop_type) == loop_type:
            loop['fp16'] = True


def build_runner(cfg):
    """Build the runner of ``cfg`` (``runner_type`` when the config names one).

    Every runner gets a visualizer of its own (a unique instance name): mmengine's
    ``ManagerMixin`` would otherwise hand a second runner of the process (the DeepLab stage
    after stage 1 in ``tools/run_pipeline.py``) the first one's visualizer, and its config and
    scalars would land in the first stage's ``vis_data``.
    Ranks started by ``torchrun`` (``launcher='pytorch'``) end with their launcher
    (:func:`mmseg_mctformer.utils.process.die_with_parent`); a SIGTERM leaves a line in the
    runner's log (:func:`mmseg_mctformer.utils.process.log_termination`).
    """
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS
    if cfg.get('launcher', 'none') == 'pytorch':
        from ..utils.process import die_with_parent
        die_with_parent()
    _init_cpu_process_group(cfg)
    if isinstance(cfg.get('visualizer'), dict):
        name = cfg.visualizer.get('name', 'visualizer')
        cfg.visualizer['name'] = f'{name}_{next(_RUNNER_IDS)}'
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = _quiet_console_runner(Runner).from_cfg(cfg)
        runner.logger.info(f'environment, config and hooks: {_log_file(runner.logger)}; '
                           f'config: {osp.join(runner.work_dir, _config_name(runner))}')
    runner.logger.addFilter(DropParamwiseOptions())  # see mmseg_mctformer.utils.console
    from ..utils.process import log_termination
    log_termination(runner)
    return runner


def _quiet_console_runner(runner_cls):
    """``runner_cls`` whose logger keeps mmengine's start-up records out of the terminal."""

    class QuietConsoleRunner(runner_cls):

        def build_logger(self, *args, **kwargs):
            logger = super().build_logger(*args, **kwargs)
            quiet_console_handlers(logger)  # see mmseg_mctformer.utils.console
            return logger

    return QuietConsoleRunner


def _log_file(logger):
    files = [h.baseFilename for h in logger.handlers if isinstance(h, logging.FileHandler)]
    return files[0] if files else 'the log file'


def _config_name(runner):
    return osp.basename(runner.cfg.filename) if runner.cfg.filename else f'{runner.timestamp}.py'
