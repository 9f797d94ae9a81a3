"""Atomic file writes: a reader never sees a partial file, an interrupted writer leaves none."""
import os
import os.path as osp
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_output(path, suffix=''):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step.

    The temporary file lives in the same folder (same file system, so ``os.replace`` is atomic) and
    is removed when the body raises.

    Args:
        path (str): Final file path; its folder is created when missing.
        suffix (str): Suffix of the temporary name (e.g. ``'.png'`` for writers that look at the
            extension). Default: ``''``.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix=suffix + '.tmp',
                               dir=folder)
    os.close(fd)
    try:
        yield tmp
        # mkstemp creates 0600 files: give the usual mode of a new file (0666 minus the umask)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def current_umask():
    """The process umask (read without changing it where ``/proc`` tells it)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data, fsync=False):
    """Write ``data`` (bytes) to ``path`` atomically.

    Args:
        path (str): Final file path.
        data (bytes): Content.
        fsync (bool): Flush the content to the disk before the rename, so that a crash of the
            machine cannot leave an empty file under the final name. Default: False.

    Raises:
        OSError: Naming ``path`` when the write fails (e.g. ``ENOSPC``); ``path`` keeps its
            previous content and no temporary file is left.
    """
    try:
        with atomic_output(path) as tmp, open(tmp, 'wb') as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    except OSError as err:
        raise OSError(err.errno, f'cannot write {path}: {err.strerror or err} (the previous '
                      'file, if any, is kept)') from err


def atomic_write_text(path, text):
    """Write ``text`` (str, UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode('utf-8'))
