"""Runner plumbing of our tools, as MMSeg's ``tools/train.py`` / ``tools/test.py`` do it: the
config (``--cfg-options``, top-level variables, work dir, ``--resume``, ``--amp``), the CPU
fallback of distributed runs and their process group, and the runner itself."""
import ast
import itertools
import logging
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from ...datasets.utils import unwrap_dataset_cfg
from ...utils.checkpoint import find_resume_checkpoint, is_complete_checkpoint
from ...utils.console import DropParamwiseOptions, quiet_console_handlers
from ...utils.process import die_with_parent, log_termination
from .config_variables import TOP_LEVEL_VARIABLES, check_config_paths, sync_top_level_variables

#: Numbers that make the visualizer name of each runner of a process unique.
_RUNNER_IDS = itertools.count()


def sub_config(node: dict, key: str) -> dict:
    """The dict under ``node[key]``, an empty one stored there when missing.

    ``ConfigDict.setdefault(key, {})`` stores a converted copy and returns its argument, so
    writing into what it returns would not reach the config.
    """
    if node.get(key) is None:
        node[key] = {}
    return node[key]


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none', amp: bool = False, resume: bool = False,
                check_paths: bool = False) -> Config:
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


def set_pseudo_label_dir(cfg: Config, path: str) -> Config:
    """Point the training masks of a segmentation config at the pseudo-label folder ``path``.

    The DeepLab configs write ``seg_map_path=pseudo_label_dir`` when they are parsed, so a later
    ``--cfg-options pseudo_label_dir=...`` alone would not reach the dataset; :func:`load_config`
    calls this for it. Sets ``train_dataloader.dataset`` (through ``RepeatDataset``-like
    wrappers) ``data_prefix.seg_map_path`` and the top-level ``pseudo_label_dir``.
    """
    dataset = unwrap_dataset_cfg(cfg.train_dataloader)
    sub_config(dataset, 'data_prefix')['seg_map_path'] = path
    cfg.pseudo_label_dir = path
    return cfg


def set_bg_threshold(target, bg_threshold: Optional[float]):
    """Set the background threshold of the seeds (MCTformer) or of the random walk (AffinityNet):
    ``cfg.model.test_cfg.bg_threshold`` of a config, ``model.test_cfg['bg_threshold']`` of a
    built model.

    The one place a threshold chosen outside the config (``--bg-threshold``, the seeds stage's
    best one, the deprecated ``PseudoLabelHook(bg_threshold=...)``) enters: the model stores it
    in every prediction (``bg_threshold`` of the data sample), the writers read it from there and
    the label folder's record names it.

    Args:
        target (mmengine.Config | torch.nn.Module): The config, or the built model (a model
            wrapper's ``module``), changed in place.
        bg_threshold (float, optional): In [0, 1]; None leaves the target's.

    Returns:
        mmengine.Config | torch.nn.Module: ``target``.
    """
    if bg_threshold is None:
        return target
    if not 0 <= float(bg_threshold) <= 1:
        raise ValueError('bg_threshold must lie in [0, 1] (the maps are normalised to [0, 1]), '
                         f'got {bg_threshold}')
    if isinstance(target, torch.nn.Module):
        model = target.module if is_model_wrapper(target) else target
        if getattr(model, 'test_cfg', None) is None:
            model.test_cfg = {}
        model.test_cfg['bg_threshold'] = float(bg_threshold)
    else:
        sub_config(target.model, 'test_cfg')['bg_threshold'] = float(bg_threshold)
    return target


def set_init_from_stage1(cfg: Config, checkpoint: str,
                         prefix: str = 'backbone.') -> Optional[dict]:
    """Load the stage-1 checkpoint into the module a segmentation config names.

    A config that declares ``init_from_stage1 = 'model.backbone.context_path'`` (a dotted path to
    a module config) starts that module from the stage-1 network's weights:
    ``init_cfg = dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix)``.

    Args:
        cfg (mmengine.Config): The segmentation config.
        checkpoint (str): The stage-1 checkpoint.
        prefix (str): Prefix of the module's keys in the checkpoint. Default: ``'backbone.'``.

    Returns:
        dict or None: The module config it changed, None where the config declares no
        ``init_from_stage1``.
    """
    path = cfg.get('init_from_stage1')
    if not path:
        return None
    node = cfg
    for key in path.split('.'):
        if not isinstance(node, (dict, Config)) or key not in node:
            raise KeyError(f'init_from_stage1={path!r}: the config has no {key!r} there')
        node = node[key]
    if not isinstance(node, dict) or 'type' not in node:
        raise KeyError(f'init_from_stage1={path!r} is not a module config (no "type")')
    node['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix)
    return node


def _literal_dict(text: str) -> Optional[dict]:
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


def parse_dict_values(options: dict) -> dict:
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


def resolve_resume_checkpoint(cfg: Config) -> Config:
    """Set ``cfg.load_from`` to the checkpoint that ``--resume`` continues from.

    mmengine reads ``work_dir/last_checkpoint`` and, when it is missing, trains from scratch
    with an info line; a truncated checkpoint fails deep in ``torch.load``. Here the newest
    complete checkpoint is taken (with a warning when ``last_checkpoint`` is missing, dangling
    or names a truncated file, see
    :func:`mmseg_mctformer.utils.checkpoint.find_resume_checkpoint`), an explicit ``load_from``
    is checked to be complete, and starting from scratch is said as a warning.
    """
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


def adapt_distributed_to_cpu(cfg: Config) -> None:
    """Let a distributed config run on machines without CUDA; a no-op where CUDA is available.

    mmengine assumes GPUs for distributed runs (NCCL, ``torch.cuda.set_device``, DDP with
    ``device_ids``). Without CUDA this switches ``env_cfg.dist_cfg.backend`` to gloo and wraps the
    model in DDP without ``device_ids``; :func:`build_runner` then starts the gloo process group
    itself.
    """
    if torch.cuda.is_available():
        return
    dist_cfg = sub_config(sub_config(cfg, 'env_cfg'), 'dist_cfg')
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        print_log('CUDA is not available: distributed backend nccl -> gloo', logger='current',
                  level=logging.WARNING)
        dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def init_cpu_process_group(cfg: Config) -> None:
    """Start the process group of a torchrun (``pytorch`` launcher) job on a machine without CUDA.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device``; the Runner skips its own
    initialisation when a process group exists.
    """
    if (cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available()
            or not dist.is_available() or dist.is_initialized()):
        return
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend', 'gloo')
    dist.init_process_group(backend=backend)


def close_process_group() -> None:
    """Wait for every rank, then shut the process group down; a no-op outside a distributed job.

    Without it a rank that finishes first exits while rank 0 still writes checkpoints, and its
    gloo threads can abort the interpreter ("terminate called without an active exception"),
    which fails the whole torchrun job.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def enable_amp(cfg: Config) -> None:
    """Turn on mixed precision, as ``--amp`` of MMSeg's ``tools/train.py``.

    With CUDA: mmengine's ``AmpOptimWrapper`` (float16, dynamic loss scale), as MMSeg does.
    Without (mmengine's ``AmpOptimWrapper`` refuses to start there): our
    :class:`~mmseg_mctformer.engine.AutocastOptimWrapper`, bfloat16 autocast without a loss scaler.
    """
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


def enable_amp_inference(cfg: Config) -> None:
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


def build_runner(cfg: Config) -> Runner:
    """Build the runner of ``cfg`` (``runner_type`` when the config names one).

    Every runner gets a visualizer of its own (a unique instance name): mmengine's
    ``ManagerMixin`` would otherwise hand a second runner of the process (the DeepLab stage
    after stage 1 in ``tools/run_pipeline.py``) the first one's visualizer, and its config and
    scalars would land in the first stage's ``vis_data``.
    Ranks started by ``torchrun`` (``launcher='pytorch'``) end with their launcher
    (:func:`mmseg_mctformer.utils.process.die_with_parent`); a SIGTERM leaves a line in the
    runner's log (:func:`mmseg_mctformer.utils.process.log_termination`).
    """
    if cfg.get('launcher', 'none') == 'pytorch':
        die_with_parent()
    init_cpu_process_group(cfg)
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
    log_termination(runner)
    return runner


def _quiet_console_runner(runner_cls: type) -> type:
    """``runner_cls`` whose logger keeps mmengine's start-up records out of the terminal."""

    class QuietConsoleRunner(runner_cls):

        def build_logger(self, *args, **kwargs):
            logger = super().build_logger(*args, **kwargs)
            quiet_console_handlers(logger)  # see mmseg_mctformer.utils.console
            return logger

    return QuietConsoleRunner


def _log_file(logger: logging.Logger) -> str:
    files = [h.baseFilename for h in logger.handlers if isinstance(h, logging.FileHandler)]
    return files[0] if files else 'the log file'


def _config_name(runner: Runner) -> str:
    return osp.basename(runner.cfg.filename) if runner.cfg.filename else f'{runner.timestamp}.py'
