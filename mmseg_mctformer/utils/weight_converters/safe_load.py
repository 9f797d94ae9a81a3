"""Safe loading of weight files: ``torch.load(weights_only=True)`` with the objects of an MMEngine
training checkpoint allowed by name; anything else needs an explicit ``allow_unsafe=True``.
"""
import importlib
import os.path as osp
import pickle
import re
import warnings
from typing import Optional, Tuple

import torch

from ..compat import load_with_allowed_globals, unsafe_globals_in_checkpoint

# Objects besides tensors in a checkpoint saved by MMEngine's CheckpointHook (message hub
# HistoryBuffers with their statistics methods, numpy scalars / arrays of the logs).
TRAINING_CHECKPOINT_GLOBALS = (
    'builtins.getattr',
    'numpy.ndarray',
    'numpy.dtype',
    'numpy._core.multiarray._reconstruct',
    'numpy._core.multiarray.scalar',
    'numpy.core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar',
    'mmengine.logging.history_buffer.HistoryBuffer',
)
_NUMPY_DTYPE_CLASS = re.compile(r'^numpy\.dtypes\.\w+DType$')


def _resolve_global(name: str):
    module, attr = name.rsplit('.', 1)
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def load_torch_checkpoint(path: str, allow_unsafe: bool = False):
    """``torch.load`` a checkpoint file safely.

    First with ``weights_only=True``; a file that needs other objects is inspected
    (:func:`~mmseg_mctformer.utils.compat.unsafe_globals_in_checkpoint`): when every one is among
    :data:`TRAINING_CHECKPOINT_GLOBALS` (an MMEngine training checkpoint) it is loaded again with
    those names allowed (:func:`~mmseg_mctformer.utils.compat.load_with_allowed_globals`).
    Otherwise the error names the file and the
    objects, unless ``allow_unsafe`` (a file you trust), which loads with ``weights_only=False``
    after a warning.

    Args:
        path (str): The checkpoint file.
        allow_unsafe (bool): Fall back to full unpickling for unknown objects. Default: False.

    Returns:
        The loaded object.
    """
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as first_error:
        try:
            names = unsafe_globals_in_checkpoint(path)
        except Exception as e:  # a corrupt or non-zip file
            raise RuntimeError(f'load_torch_checkpoint: cannot read {path!r}: {first_error}') \
                from e
        unknown = [n for n in names
                   if n not in TRAINING_CHECKPOINT_GLOBALS and not _NUMPY_DTYPE_CLASS.match(n)]
        if not unknown:
            allowed = [(obj, n) for n in names if (obj := _resolve_global(n)) is not None]
            # numpy scalars rebuild their dtype class (numpy.dtypes.*DType), which the scan of
            # the pickle's globals does not list
            dtypes = importlib.import_module('numpy.dtypes')
            allowed += [(getattr(dtypes, n), f'numpy.dtypes.{n}') for n in dir(dtypes)
                        if _NUMPY_DTYPE_CLASS.match(f'numpy.dtypes.{n}')]
            return load_with_allowed_globals(path, allowed)
        if not allow_unsafe:
            raise RuntimeError(
                f'load_torch_checkpoint: {path!r} holds objects outside the weights-only '
                f'allow-list: {unknown}. Only if you trust this file, load it with '
                f'allow_unsafe=True (tools/convert_weights.py --unsafe-load), which unpickles '
                f'it completely (weights_only=False).') from first_error
        warnings.warn(f'load_torch_checkpoint: loading {path!r} with weights_only=False '
                      f'(allow_unsafe=True); it holds {unknown}')
        return torch.load(path, map_location='cpu', weights_only=False)


def load_source(src: str, allow_unsafe: bool = False) -> Tuple[dict, Optional[str]]:
    """Load a weight file: ``.onnx`` as ONNX, anything else with :func:`load_torch_checkpoint`.

    Args:
        src (str): Path of the file.
        allow_unsafe (bool): See :func:`load_torch_checkpoint`. Default: False.

    Returns:
        tuple[dict | str, str | None]: The checkpoint (the path itself for ONNX) and ``'onnx'``
        for an ONNX file, else None.
    """
    if not osp.isfile(src):
        raise FileNotFoundError(f'load_source: no weight file at {src!r}')
    if src.endswith('.onnx'):
        return src, 'onnx'
    try:
        return load_torch_checkpoint(src, allow_unsafe), None
    except RuntimeError:
        raise
    except Exception as e:  # re-raised with the file name
        raise RuntimeError(f'load_source: torch.load({src!r}, weights_only=True) failed: {e}') \
            from e
