"""A checkpoint hook whose files survive kill -9, SIGTERM, Ctrl-C and a full disk mid-save."""
import glob
import os
import os.path as osp
import signal
import threading
from contextlib import contextmanager

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from ...utils.checkpoint import is_inside
from ...utils.io import atomic_write_bytes, atomic_write_text

#: ``backend_args`` of the atomic local file backend.
ATOMIC_BACKEND_ARGS = dict(backend='atomic_local')


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, whose ``put`` writes a temporary file, flushes it to the
    disk and renames it: a file under its final name is always complete."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(str(filepath), obj, fsync=True)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


@contextmanager
def deferred_signals(signums=(signal.SIGINT, signal.SIGTERM)):
    """Hold back SIGINT / SIGTERM during the body, then deliver them as they would have been.

    A Ctrl-C or a ``kill`` that arrives while a checkpoint and ``last_checkpoint`` are written
    takes effect right after both are on disk. Outside the main thread this is a no-op (Python
    only installs handlers there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {}
    for signum in signums:
        if signal.getsignal(signum) is None:  # a handler set from C: it cannot be restored
            continue
        previous[signum] = signal.signal(signum, lambda s, f: received.append((s, f)))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum, frame in received:
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)


class _DeferredRemoval:
    """A file backend proxy that records ``remove`` / ``rmtree`` instead of doing them."""

    def __init__(self, backend):
        self._backend = backend
        self.pending = []

    def remove(self, path):
        self.pending.append(path)

    def rmtree(self, path):
        self.pending.append(path)

    def __getattr__(self, name):
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` that never loses the last complete checkpoint.

    Same arguments and files as mmengine's hook (``epoch_N.pth`` / ``iter_N.pth``, ``best_*``,
    ``last_checkpoint``, ``max_keep_ckpts``); what changes is the order and atomicity of the
    writes, for a local ``out_dir``:

    - every checkpoint is written to a temporary file of the same folder, flushed to the disk and
      renamed (:class:`AtomicLocalBackend`), so a kill or a full disk mid-save never leaves a
      truncated ``.pth`` under a checkpoint name (a write error names the file);
    - ``last_checkpoint`` is replaced atomically, after the checkpoint it names is complete;
    - checkpoints beyond ``max_keep_ckpts`` and the previous best checkpoint are removed only
      after the new one is complete and ``last_checkpoint`` names it;
    - SIGINT / SIGTERM arriving during a save are delivered once the save is committed
      (:func:`deferred_signals`);
    - temporary files left by a killed run are removed when training starts;
    - nothing outside ``out_dir`` is ever removed: a resumed run whose checkpoint names a best
      checkpoint of another folder (a work dir copied with ``cp -r``) takes the file of the same
      name in ``out_dir`` as its previous best.

    ``--resume`` picks the checkpoint with
    :func:`mmseg_mctformer.utils.checkpoint.find_resume_checkpoint` (our tools do), which also
    falls back to the newest complete checkpoint when ``last_checkpoint`` is missing or dangling.

    Args:
        **kwargs: See :class:`mmengine.hooks.CheckpointHook`. Without ``backend_args`` /
            ``file_client_args`` the atomic local backend is used; with them the hook behaves as
            mmengine's (other storages).
    """

    def __init__(self, *args, **kwargs):
        self.atomic = (kwargs.get('backend_args') is None
                       and kwargs.get('file_client_args') is None)
        if self.atomic:
            kwargs['backend_args'] = dict(ATOMIC_BACKEND_ARGS)
        super().__init__(*args, **kwargs)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not self.atomic:
            return
        self._localise_best_paths(runner)
        if is_main_process():
            for tmp in glob.glob(osp.join(self.out_dir, '.*.pth.*.tmp')):
                runner.logger.warning(f'removing {tmp}, a checkpoint left incomplete by an '
                                      'interrupted run')
                os.remove(tmp)

    def _localise_best_paths(self, runner) -> None:
        """Map the previous best checkpoints of a resumed run that lie outside ``out_dir`` onto
        the files of the same name in ``out_dir`` (the message hub of a checkpoint stores
        absolute paths)."""
        def local(path, info_key):
            if not path or is_inside(path, self.out_dir):
                return path
            new = osp.join(self.out_dir, osp.basename(path))
            runner.logger.warning(f'the resumed checkpoint names the best checkpoint {path}, '
                                  f'outside {self.out_dir}; taking {new} as the previous best '
                                  '(nothing outside the work dir is removed)')
            runner.message_hub.update_info(info_key, new)
            return new

        if getattr(self, 'best_ckpt_path', None):
            self.best_ckpt_path = local(self.best_ckpt_path, 'best_ckpt')
        for key, path in list(getattr(self, 'best_ckpt_path_dict', {}).items()):
            self.best_ckpt_path_dict[key] = local(path, f'best_ckpt_{key}')

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self.atomic:
            return super()._save_checkpoint_with_step(runner, step, meta)
        with deferred_signals():
            outdated = []
            if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                                and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    outdated.append(self.keep_ckpt_ids.popleft())
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

            ckpt_filename = self.filename_tmpl.format(step)
            self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
            runner.message_hub.update_info('last_ckpt', self.last_ckpt)
            runner.save_checkpoint(
                self.out_dir,
                ckpt_filename,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
            if not is_main_process():
                return
            atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
            for old in outdated:
                path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
                if path != self.last_ckpt and osp.isfile(path):
                    os.remove(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.atomic:
            return super()._save_best_checkpoint(runner, metrics)
        backend = self.file_backend
        proxy = _DeferredRemoval(backend)
        with deferred_signals():
            self.file_backend = proxy
            try:
                super()._save_best_checkpoint(runner, metrics)
            finally:
                self.file_backend = backend
            # only reached once the new best checkpoint is complete
            kept = {self.last_ckpt, getattr(self, 'best_ckpt_path', None),
                    *getattr(self, 'best_ckpt_path_dict', {}).values()}
            for path in proxy.pending:
                if path not in kept and osp.isfile(path) and is_inside(path, self.out_dir):
                    os.remove(path)
