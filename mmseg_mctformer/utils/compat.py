"""The few places where the two supported stacks differ, each behind one function.

Supported (``docs/en/installation.md``): PyTorch 2.1 to 2.14 with either the upstream OpenMMLab
packages (``mmengine`` 0.10.x, ``mmsegmentation`` 1.2.x, ``mmpretrain`` 1.2.x, a compiled
``mmcv`` 2.1) or the maintained OneDL forks (``onedl-mmengine``, ``onedl-mmsegmentation``,
``onedl-mmpretrain``, ``mmcv-lite``). Each function picks its path from what the installed
packages provide (an attribute or API that exists or not), never from a version table, and is
tested on both stacks:

- :func:`fused_optimizer_supported`: fused AdamW runs on CUDA since PyTorch 2.0, on a CPU only
  since 2.4 (used by :class:`mmseg_mctformer.engine.FusedFallbackOptimWrapperConstructor`);
- :func:`register_load_state_dict_pre_hook`: ``nn.Module``'s public hook API (PyTorch >= 2.2)
  or its private form, the same call;
- :func:`autocast_enabled`: ``torch.is_autocast_enabled(device_type)`` of PyTorch >= 2.4, or
  the per-device functions before it;
- :func:`channel_conversion`: MMSeg's ``SegDataPreProcessor`` keeps its RGB <-> BGR switch as
  ``_channel_conversion`` (forks) or ``channel_conversion`` (upstream 1.2);
- :func:`unsafe_globals_in_checkpoint` / :func:`load_with_allowed_globals`: the weights-only
  allow-list of ``torch.serialization`` (PyTorch >= 2.5) or, before it, the same scan of the
  pickle and a load that only runs once every global it names is allowed.
"""
import _compat_pickle
import functools
import pickletools
import zipfile
from typing import Iterable, List, Tuple

import torch
from torch import nn


@functools.lru_cache(maxsize=None)
def fused_optimizer_supported(optimizer_cls: type, device_type: str) -> bool:
    """Whether ``optimizer_cls(params, fused=True)`` accepts float32 parameters on
    ``device_type`` with the installed PyTorch (probed once on a one-element tensor).

    Args:
        optimizer_cls (type): A ``torch.optim.Optimizer`` subclass with a ``fused`` argument.
        device_type (str): ``'cpu'``, ``'cuda'``...

    Returns:
        bool: False where the constructor refuses (e.g. AdamW on a CPU before PyTorch 2.4).
    """
    try:
        param = nn.Parameter(torch.zeros(1, device=device_type))
        optimizer_cls([param], fused=True)
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


def register_load_state_dict_pre_hook(module: nn.Module, hook):
    """``module.register_load_state_dict_pre_hook(hook)``, also on PyTorch < 2.2, which has only
    the private ``_register_load_state_dict_pre_hook(hook, with_module=True)`` (the public method
    is that call).

    Args:
        module (nn.Module): The module whose ``load_state_dict`` calls ``hook`` first.
        hook (callable): ``hook(module, state_dict, prefix, local_metadata, strict,
            missing_keys, unexpected_keys, error_msgs)``.

    Returns:
        torch.utils.hooks.RemovableHandle: The handle that removes the hook.
    """
    public = getattr(module, 'register_load_state_dict_pre_hook', None)
    if public is not None:
        return public(hook)
    return module._register_load_state_dict_pre_hook(hook, with_module=True)


def autocast_enabled(device_type: str) -> bool:
    """``torch.is_autocast_enabled(device_type)`` (PyTorch >= 2.4); before it, the per-device
    functions (``torch.is_autocast_cpu_enabled()``; ``torch.is_autocast_enabled()`` for CUDA)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # no device argument before PyTorch 2.4
        if device_type == 'cpu':
            return torch.is_autocast_cpu_enabled()
        if device_type == 'cuda':
            return torch.is_autocast_enabled()
        raise ValueError(f'autocast_enabled: device_type {device_type!r} needs PyTorch >= 2.4 '
                         "here ('cpu' or 'cuda' before)") from None


def channel_conversion(preprocessor) -> bool:
    """Whether MMSeg's ``SegDataPreProcessor`` swaps RGB <-> BGR (``bgr_to_rgb`` or
    ``rgb_to_bgr``): its attribute is ``_channel_conversion`` in the forks, ``channel_conversion``
    upstream."""
    for name in ('_channel_conversion', 'channel_conversion'):
        if hasattr(preprocessor, name):
            return bool(getattr(preprocessor, name))
    raise AttributeError(f'{type(preprocessor).__name__} has neither `_channel_conversion` nor '
                         '`channel_conversion` (expected an mmseg SegDataPreProcessor)')


def _global_name(module: str, name: str) -> str:
    """``module.name`` as Python 3 unpickles it (protocol 2 writes ``__builtin__.getattr``)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f'{module}.{name}'


def _pickle_globals(data: bytes) -> List[str]:
    """``module.name`` of every global a pickle refers to (``GLOBAL``, ``STACK_GLOBAL``)."""
    names, strings, memo = [], [], {}
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name == 'GLOBAL':
            names.append(_global_name(*arg.split(' ', 1)))
        elif opcode.name in ('SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'UNICODE'):
            strings.append(arg)
        elif opcode.name == 'MEMOIZE' and strings:
            memo[len(memo)] = strings[-1]
        elif opcode.name in ('BINPUT', 'LONG_BINPUT', 'PUT') and strings:
            memo[arg] = strings[-1]
        elif opcode.name in ('BINGET', 'LONG_BINGET', 'GET') and arg in memo:
            strings.append(memo[arg])
        elif opcode.name == 'STACK_GLOBAL' and len(strings) >= 2:
            names.append(_global_name(strings[-2], strings[-1]))
    return list(dict.fromkeys(names))


#: Globals that ``torch.load(weights_only=True)`` accepts by default in PyTorch 2.5+ but not in
#: 2.1 (``_codecs.encode`` rebuilds the ``bytes`` of a numpy array saved with pickle protocol 2).
LATER_DEFAULT_SAFE_GLOBALS = ('_codecs.encode', 'builtins.bytearray', 'builtins.complex',
                              'builtins.set', 'collections.Counter', 'torch.device')


def _torch_allowed_globals() -> set:
    """``module.name`` of the globals ``torch.load(weights_only=True)`` accepts by default in
    recent PyTorch: the installed version's list, :data:`LATER_DEFAULT_SAFE_GLOBALS` and the
    ``torch`` dtypes."""
    from torch import _weights_only_unpickler as unpickler
    dtypes = {f'torch.{n}' for n in dir(torch) if isinstance(getattr(torch, n, None), torch.dtype)}
    return set(unpickler._get_allowed_globals()) | set(LATER_DEFAULT_SAFE_GLOBALS) | dtypes


def unsafe_globals_in_checkpoint(path: str) -> List[str]:
    """The globals of a ``torch.save`` file outside the default weights-only allow-list:
    ``torch.serialization.get_unsafe_globals_in_checkpoint`` where PyTorch has it (>= 2.5),
    else the same scan of the file's ``data.pkl``.

    Args:
        path (str): A checkpoint file in ``torch.save``'s zip format.

    Returns:
        list[str]: ``module.name`` strings.
    """
    scan = getattr(torch.serialization, 'get_unsafe_globals_in_checkpoint', None)
    if scan is not None:
        return scan(path)
    with zipfile.ZipFile(path) as archive:
        pkl = [n for n in archive.namelist() if n.endswith('/data.pkl') or n == 'data.pkl']
        if not pkl:
            raise RuntimeError(f'{path!r}: no data.pkl in the archive (not a torch.save file)')
        data = archive.read(pkl[0])
    allowed = _torch_allowed_globals()
    return [n for n in _pickle_globals(data) if n not in allowed]


def load_with_allowed_globals(path: str, allowed: Iterable[Tuple[object, str]]):
    """``torch.load(path, weights_only=True)`` with the extra globals ``allowed`` accepted.

    PyTorch >= 2.5: inside ``torch.serialization.safe_globals``. Before it (no allow-list API):
    the file is scanned (:func:`unsafe_globals_in_checkpoint`) and unpickled fully only when
    every global it names is the default allow-list's or ``allowed``'s, which leaves the
    unpickler the same objects to call; otherwise the error names the others.

    Args:
        path (str): The checkpoint file.
        allowed (iterable[tuple[object, str]]): ``(object, 'module.name')`` pairs.

    Returns:
        The loaded object.
    """
    allowed = list(allowed)
    safe_globals = getattr(torch.serialization, 'safe_globals', None)
    if safe_globals is not None:
        with safe_globals(allowed):
            return torch.load(path, map_location='cpu', weights_only=True)
    names = {name for _, name in allowed}
    others = [n for n in unsafe_globals_in_checkpoint(path) if n not in names]
    if others:
        raise RuntimeError(f'load_with_allowed_globals: {path!r} holds objects outside the '
                           f'allow-list: {others}')
    return torch.load(path, map_location='cpu', weights_only=False)
