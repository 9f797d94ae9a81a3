"""Checkpoint checks: the right weights for the model, complete files, the checkpoint to resume.

mmengine loads weights with ``strict=False``: a checkpoint of another architecture loads with
warnings only, and the model keeps its random weights. :func:`check_checkpoint_file` makes that
an error that names the file and how many keys matched. :func:`find_resume_checkpoint` picks the
newest complete checkpoint of a work dir for ``--resume`` and says so when ``last_checkpoint`` is
missing, dangling or points at a truncated file.
"""
import glob
import hashlib
import logging
import os
import os.path as osp
import re
import zipfile
from collections import OrderedDict
from typing import Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

#: Checkpoint names written by mmengine's ``CheckpointHook`` (``filename_tmpl``).
_STEP_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def read_state_dict(filename: str, map_location='cpu', prefix: Optional[str] = None) -> dict:
    """The weights of a checkpoint file, as mmengine's loaders see them.

    ``state_dict`` / ``model`` wrappers are unwrapped and a ``module.`` prefix (DDP) is removed.

    Args:
        filename (str): Local path or any URI of mmengine's ``CheckpointLoader``.
        map_location (str): See :func:`torch.load`. Default: ``'cpu'``.
        prefix (str, optional): Keep only the keys under ``prefix`` (without it), as
            ``init_cfg=dict(type='Pretrained', prefix=...)``. Default: None.

    Returns:
        dict: Key -> tensor.
    """
    from mmengine.runner.checkpoint import _load_checkpoint
    if '://' not in filename and not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename} does not exist')
    try:
        checkpoint = _load_checkpoint(filename, map_location=map_location, logger='silent')
    except Exception as err:  # truncated zip, unpickling error, ...
        raise RuntimeError(f'checkpoint file {filename} cannot be read (truncated or not a '
                           f'PyTorch checkpoint?): {type(err).__name__}: {err}') from err
    if not isinstance(checkpoint, dict):
        raise TypeError(f'checkpoint file {filename} holds a {type(checkpoint).__name__}, '
                        'expected a dict of weights')
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in checkpoint.items())
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = OrderedDict((k[len(prefix):], v) for k, v in state.items()
                            if k.startswith(prefix))
    return state


def check_state_dict(model: torch.nn.Module, state_dict: dict, filename: str,
                     min_ratio: float = 1.0, what: str = 'the model') -> Tuple[int, int]:
    """Raise unless ``state_dict`` provides at least ``min_ratio`` of the model's keys.

    Keys are compared by name (shapes are left to the model's own loading, e.g. the position
    embedding resize of ``MultiClassTokenViT``), after the renames the model applies when it
    loads (a model's ``map_legacy_keys(state_dict)``, as ``MCTformer``'s for its heads).

    Args:
        model (nn.Module): The model (a wrapper is unwrapped) or sub-module to load into.
        state_dict (dict): The checkpoint's weights (see :func:`read_state_dict`).
        filename (str): Named in the message.
        min_ratio (float): Least fraction of the model's keys the checkpoint must hold.
            Default: 1.0 (all of them).
        what (str): Named in the message. Default: ``'the model'``.

    Returns:
        tuple[int, int]: Matched keys and the model's key count.
    """
    from mmengine.model import BaseTTAModel
    if is_model_wrapper(model):
        model = model.module
    if isinstance(model, BaseTTAModel):  # tools/test.py --tta: the checkpoint is the module's
        model = model.module
    if hasattr(model, 'map_legacy_keys'):
        state_dict = model.map_legacy_keys(dict(state_dict))
    own = list(model.state_dict().keys())
    matched = [k for k in own if k in state_dict]
    if own and len(matched) < min_ratio * len(own):
        missing = [k for k in own if k not in state_dict]
        foreign = [k for k in state_dict if k not in own]
        raise ValueError(
            f'checkpoint {filename} does not fit {what} ({type(model).__name__}): '
            f'{len(matched)} of its {len(own)} keys matched (at least '
            f'{min_ratio:.0%} needed); missing e.g. {missing[:3]}, the checkpoint has '
            f'{len(state_dict)} keys, {len(foreign)} unknown to the model, e.g. {foreign[:3]}. '
            'Is it a checkpoint of another architecture or config?')
    return len(matched), len(own)


def check_checkpoint_file(model: torch.nn.Module, filename: str, min_ratio: float = 1.0,
                          prefix: Optional[str] = None, what: str = 'the model'
                          ) -> Tuple[int, int]:
    """Read ``filename`` and :func:`check_state_dict` it against ``model``.

    Args:
        model (nn.Module): The model that will load the checkpoint.
        filename (str): The checkpoint.
        min_ratio (float): See :func:`check_state_dict`. Default: 1.0.
        prefix (str, optional): See :func:`read_state_dict`. Default: None.
        what (str): Named in the message. Default: ``'the model'``.

    Returns:
        tuple[int, int]: Matched keys and the model's key count.
    """
    state = read_state_dict(filename, prefix=prefix)
    return check_state_dict(model, state, filename, min_ratio=min_ratio, what=what)


_SHA256_CACHE = {}


def file_sha256(path: str) -> str:
    """SHA-256 (hex) of a file's bytes; cached per (path, size, mtime) within the process.

    The identity of a checkpoint in the settings records of label folders and in the pipeline
    state: it survives a copy or move of the file, which its path and time stamp do not.
    """
    stat = os.stat(path)
    key = (osp.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256_CACHE:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                digest.update(block)
        _SHA256_CACHE[key] = digest.hexdigest()
    return _SHA256_CACHE[key]


def checkpoint_record(path: str) -> dict:
    """How a settings record names a checkpoint file: ``checkpoint`` (absolute path, size and
    modification time) and ``checkpoint_sha256`` (:func:`file_sha256`)."""
    stat = osp.getsize(path), int(osp.getmtime(path))
    return dict(checkpoint=f'{osp.abspath(path)} ({stat[0]} bytes, mtime {stat[1]})',
                checkpoint_sha256=file_sha256(path))


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a complete checkpoint file (its zip directory reads back).

    ``torch.save`` writes zip archives whose directory is at the end: a file cut short by a kill
    or a full disk has none. Files in the legacy (non-zip) format are fully unpickled instead.
    """
    if not osp.isfile(path) or osp.getsize(path) == 0:
        return False
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                return bool(zf.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
    try:
        torch.load(path, map_location='cpu', weights_only=False)
    except Exception:
        return False
    return True


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies in ``folder`` or below it (symbolic links resolved)."""
    path, folder = osp.realpath(path), osp.realpath(folder)
    return osp.commonpath([path, folder]) == folder


def _step_checkpoints(work_dir: str):
    """``epoch_N.pth`` / ``iter_N.pth`` files of ``work_dir``, newest (highest N) first."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        match = _STEP_NAME.match(osp.basename(path))
        if match:
            found.append((int(match.group(2)), osp.getmtime(path), path))
    return [p for _, _, p in sorted(found, reverse=True)]


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint that ``--resume`` should continue from, never a truncated one.

    ``work_dir/last_checkpoint`` (written by the checkpoint hook) wins when it names a complete
    file inside ``work_dir``. A path outside it (a work dir copied with ``cp -r`` keeps the
    original's absolute path) is taken as the file of the same name in ``work_dir``, never the
    original's. Otherwise the newest complete ``epoch_N.pth`` / ``iter_N.pth`` of ``work_dir`` is
    taken with a warning that says why; incomplete files are named in the warning.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str | None: The checkpoint, or None when ``work_dir`` holds no checkpoint at all.

    Raises:
        RuntimeError: If checkpoints exist but none of them is complete.
    """
    marker = osp.join(work_dir, 'last_checkpoint')
    reason = None
    if osp.isfile(marker):
        with open(marker) as f:
            last = f.read().strip()
        if last and not is_inside(last, work_dir):
            local = osp.join(work_dir, osp.basename(last))
            print_log(f'Resume: {marker} names {last}, outside the work dir {work_dir} (a copied '
                      f'work dir?); taking {local} instead', logger='current',
                      level=logging.WARNING)
            last = local
        if not last:
            reason = f'{marker} is empty'
        elif not osp.isfile(last):
            reason = f'{marker} names {last}, which does not exist'
        elif not is_complete_checkpoint(last):
            reason = f'{marker} names {last}, which is truncated or unreadable'
        else:
            return last
    candidates = _step_checkpoints(work_dir)
    broken = [p for p in candidates if not is_complete_checkpoint(p)]
    complete = [p for p in candidates if p not in broken]
    if reason is None and not candidates:
        return None
    if reason is None:
        reason = f'{marker} does not exist'
    if not complete:
        raise RuntimeError(f'cannot resume in {work_dir}: {reason}, and no complete checkpoint '
                           f'is left (incomplete: {broken}). Delete them to start from scratch.')
    print_log(f'Resume: {reason}; resuming from the newest complete checkpoint {complete[0]}'
              + (f' (skipped incomplete {broken})' if broken else ''),
              logger='current', level=logging.WARNING)
    return complete[0]
