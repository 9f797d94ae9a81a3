"""Config handling shared by the tools: the same rules as MMSeg's ``tools/train.py``."""
import logging
import os.path as osp

from mmengine.config import Config
from mmengine.logging import print_log


def load_config(path, cfg_options=None, work_dir=None, launcher='none', amp=False, resume=False):
    """Read a config and apply the command-line overrides, as MMSeg's tools do.

    Args:
        path (str): Config file. ``mmseg::`` bases resolve once ``mmseg_mctformer`` is imported.
        cfg_options (dict, optional): ``--cfg-options`` key-value overrides. Default: None.
        work_dir (str, optional): Overrides ``cfg.work_dir``; when both are unset the work dir is
            ``./work_dirs/<config name>``. Default: None.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``. Default: ``'none'``.
        amp (bool): Switch an ``OptimWrapper`` to ``AmpOptimWrapper`` (dynamic loss scale).
            Default: False.
        resume (bool): Resume from the latest checkpoint of the work dir. Default: False.

    Returns:
        mmengine.Config: The config to build the runner from.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
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
    """Turn on mixed precision through mmengine's ``AmpOptimWrapper`` (CUDA; bf16 elsewhere)."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in the config.', logger='current',
                  level=logging.WARNING)
        return
    if wrapper != 'OptimWrapper':
        raise ValueError('--amp needs optim_wrapper.type == "OptimWrapper", '
                         f'got optim_wrapper.type == {wrapper!r}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def build_runner(cfg):
    """Build the runner of ``cfg`` (``runner_type`` when the config names one).

    Ranks started by ``torchrun`` (``launcher='pytorch'``) end with their launcher
    (:func:`mmseg_mctformer.utils.process.die_with_parent`).
    """
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS
    if cfg.get('launcher', 'none') == 'pytorch':
        from ..utils.process import die_with_parent
        die_with_parent()
    _init_cpu_process_group(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
