"""Process lifetime: the ranks of a distributed job end with their launcher."""
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time

from mmengine.logging import print_log

#: ``prctl`` option that asks the kernel to signal this process when its parent dies.
PR_SET_PDEATHSIG = 1
_WATCHED = None  # the parent pid watched by this process


def _set_pdeathsig(signum):
    """Linux: ``prctl(PR_SET_PDEATHSIG, signum)``; False where it is not available."""
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent, signum, interval):
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)
            return


def die_with_parent(signum=signal.SIGTERM, interval=1.0):
    """End this process when the process that started it dies (e.g. a killed ``torchrun``).

    A ``kill -9`` of the launcher cannot forward anything to its workers; without this, each rank
    keeps training unsupervised until the next collective call hangs or fails. On Linux the
    kernel sends ``signum`` at the parent's death (``PR_SET_PDEATHSIG``); a daemon thread that
    sees the process re-parented does the same elsewhere and also covers a parent that died
    before the call. The default SIGTERM ends the process at once (checkpoints stay complete,
    see :class:`mmseg_mctformer.engine.AtomicCheckpointHook`).

    Args:
        signum (int): Signal to receive. Default: ``signal.SIGTERM``.
        interval (float): Seconds between two checks of the thread. Default: 1.0.

    Returns:
        int: The parent's pid being watched.
    """
    global _WATCHED
    parent = os.getppid()
    if _WATCHED == parent:
        return parent
    _WATCHED = parent
    if parent == 1:
        print_log('die_with_parent: the launcher is already gone (parent pid 1)',
                  logger='current', level=logging.WARNING)
    _set_pdeathsig(signum)
    if os.getppid() != parent:  # the parent died between getppid() and prctl()
        os.kill(os.getpid(), signum)
    threading.Thread(target=_watch_parent, args=(parent, signum, interval), daemon=True,
                     name='die_with_parent').start()
    return parent


_LOGGED_RUNNER = [None, None]  # the runner whose log receives the line, and its process id


def _log_and_die(signum, frame):
    signal.signal(signum, signal.SIG_DFL)
    runner, pid = _LOGGED_RUNNER
    try:
        if runner is not None and pid == os.getpid():  # not in a forked dataloader worker
            marker = os.path.join(runner.work_dir, 'last_checkpoint')
            last = open(marker).read().strip() if os.path.isfile(marker) else None
            runner.logger.error(
                f'received {signal.Signals(signum).name} at epoch {runner.epoch}, iteration '
                f'{runner.iter}: stopping; --resume continues from '
                f'{last or "the start (no checkpoint yet)"}')
            for h in runner.logger.handlers:
                h.flush()
    finally:
        os.kill(os.getpid(), signum)


def log_termination(runner, signums=(signal.SIGTERM, )):
    """Write a line into ``runner``'s log when the process is terminated by a signal, then end
    as the signal would have (the exit status stays "killed by SIGTERM").

    A ``kill`` (a scheduler's time limit, ``die_with_parent``) otherwise ends a run with nothing
    in its log, so the log reads as if the run were still going. The line names the signal, the
    epoch and iteration reached and the checkpoint a ``--resume`` continues from. The latest
    runner of the process gets the line. Only signals whose handler is the default one (or this
    one) are taken: a handler set by someone else is kept. Outside the main thread this is a
    no-op.

    Args:
        runner: Provides ``logger``, ``epoch``, ``iter`` and ``work_dir``.
        signums (Sequence[int]): Signals to log. Default: ``(signal.SIGTERM,)``.

    Returns:
        list[int]: The signals that log into ``runner``.
    """
    if threading.current_thread() is not threading.main_thread():
        return []
    installed = []
    for signum in signums:
        if signal.getsignal(signum) in (signal.SIG_DFL, _log_and_die):
            signal.signal(signum, _log_and_die)
            installed.append(signum)
    if installed:
        _LOGGED_RUNNER[:] = [runner, os.getpid()]
    return installed
