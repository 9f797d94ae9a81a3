"""Keep the console to what the user can act on: filters for noise we cannot fix at its source.

Each filter names the exact message it drops and why; everything else passes.

- ``Could not import OneDL``: the OneDL forks of MMSeg / MMPretrain try an optional OneDL
  dataset module on import and report its absence with ``print_log(..., level=DEBUG)`` but no
  logger, which mmengine turns into a bare ``print`` (the level is ignored). We do not use OneDL
  datasets. :func:`quiet_imports` swallows exactly that line while those packages are imported.
- ``Fail to import MultiScaleDeformableAttention``: ``mmcv-lite`` (the project's mmcv, see
  ``setup.py``) has no compiled ops, and mmcv warns about one of them on import; nothing of this
  project uses it. :func:`filter_known_warnings` ignores that ``UserWarning``.
- ``paramwise_options -- <parameter>:<key>=<value>``: mmengine's
  ``DefaultOptimWrapperConstructor`` logs one INFO line per parameter and option (about a
  hundred with our ``paramwise_cfg``) when training starts; the settings are in the dumped
  config. :class:`DropParamwiseOptions` is attached to each runner's logger by
  :func:`mmseg_mctformer.apis.build_runner`.
"""
import io
import logging
import sys
import warnings
from contextlib import contextmanager, redirect_stdout

ONEDL_MESSAGE = 'Could not import OneDL'
MMCV_LITE_WARNING = r'Fail to import ``MultiScaleDeformableAttention``'
PARAMWISE_PREFIX = 'paramwise_options -- '


@contextmanager
def quiet_imports():
    """Drop the ``Could not import OneDL`` lines printed inside the block; print the rest."""
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            yield
    finally:
        kept = [line for line in buffer.getvalue().splitlines(keepends=True)
                if line.strip() != ONEDL_MESSAGE]
        sys.stdout.write(''.join(kept))


def filter_known_warnings():
    """Ignore mmcv-lite's warning about its missing compiled ``MultiScaleDeformableAttention``."""
    warnings.filterwarnings('ignore', message=MMCV_LITE_WARNING, category=UserWarning)


class DropParamwiseOptions(logging.Filter):
    """Drop mmengine's per-parameter ``paramwise_options -- ...`` INFO lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(PARAMWISE_PREFIX)
