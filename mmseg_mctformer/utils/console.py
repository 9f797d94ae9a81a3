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
  :func:`mmseg_mctformer.engine.runner.build_runner`; it also drops the ``... is skipped since its
  requires_grad=False`` warnings of the same constructor, one per frozen parameter (the unused
  final LayerNorm, a frozen context path): freezing them is the configs' intent. It drops too
  mmengine's ``"FileClient" will be deprecated`` / ``"HardDiskBackend" is the alias`` warnings,
  which its own ``CheckpointHook`` causes on every start (it builds a ``FileClient`` for backward
  compatibility and then uses the file backend).
- ``Only use 'alpha' for pillow backend``: mmcv's ``adjust_color``, called by RandAugment's colour
  transform with only ``alpha``, warns on every call that ``beta`` / ``gamma`` are ignored.
- ``The draw is False``: MMSeg's ``SegVisualizationHook`` warns at construction that it will not
  draw, which is the default of every config (``--show`` / ``--show-dir`` switch it on).
- The environment block, the whole config and the hook table that mmengine's ``Runner`` logs
  when it starts (about 400 lines), and ``SeedMetric``'s table of the mIoU at every background
  threshold (20-60 lines a validation; the best threshold is in the summary):
  :class:`FileOnlyRecords` keeps them out of the terminal; they stay in the run's log file, and
  the config is dumped to the work dir.
"""
import io
import logging
import os
import sys
import tempfile
import warnings
from contextlib import contextmanager, redirect_stdout

from mmengine.logging import print_log

ONEDL_MESSAGE = 'Could not import OneDL'
MMCV_LITE_WARNING = r'Fail to import ``MultiScaleDeformableAttention``'
PARAMWISE_PREFIX = 'paramwise_options -- '
FROZEN_SUFFIX = 'since its requires_grad=False'
FILE_CLIENT_PREFIXES = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias')
KNOWN_WARNINGS = (MMCV_LITE_WARNING, r"Only use 'alpha' for pillow backend",
                  r'The draw is False, it means that the hook for visualization')
#: Beginnings of the records that go to the log file only.
FILE_ONLY_RECORDS = ('Config:\n', 'Hooks will be executed in the following order',
                     'seed mIoU per background threshold:')
ENV_MARKER = '\nSystem environment:'


#: The keys of the messages :func:`print_log_once` has logged in this process.
_LOGGED_ONCE = set()


def print_log_once(key, message: str, level: int = logging.WARNING) -> bool:
    """Log ``message`` on the current mmengine logger the first time ``key`` is seen in this
    process (a deprecation named once, not at every model or hook built).

    Returns:
        bool: Whether the message was logged now.
    """
    if key in _LOGGED_ONCE:
        return False
    _LOGGED_ONCE.add(key)
    print_log(message, logger='current', level=level)
    return True

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
    """Ignore the ``UserWarning`` messages of ``KNOWN_WARNINGS`` (the module docstring says why)."""
    for message in KNOWN_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=UserWarning)


class DropParamwiseOptions(logging.Filter):
    """Drop mmengine's per-parameter ``paramwise_options -- ...`` and ``requires_grad`` lines
    and its ``FileClient`` deprecation warnings (logger filter: neither console nor file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (msg.startswith(PARAMWISE_PREFIX) or msg.endswith(FROZEN_SUFFIX)
                    or msg.startswith(FILE_CLIENT_PREFIXES))


class FileOnlyRecords(logging.Filter):
    """Console-handler filter: mmengine's start-up environment, config and hook table and the
    per-threshold seed table go to the log file only (the handler that carries this filter drops
    them; the file handler keeps them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (msg.startswith(FILE_ONLY_RECORDS) or ENV_MARKER in msg[:200])


def quiet_console_handlers(logger: logging.Logger) -> None:
    """Add :class:`FileOnlyRecords` to the console (non-file) handlers of ``logger``."""
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler):
            handler.addFilter(FileOnlyRecords())


@contextmanager
def captured_c_stderr():
    """Capture what C libraries write to file descriptor 2 during the body.

    libjpeg (inside OpenCV) reports a corrupt JPEG with ``Corrupt JPEG data: ...`` on stderr and
    decodes it anyway; the message names no file. The caller gets the text and can say which file
    it was about. Yields a list that receives the captured text (one string) when the body ends.
    Output of other threads during the body is captured too (and so passed on by the caller).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    captured = []
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode('utf-8', errors='replace'))
