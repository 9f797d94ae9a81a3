"""atomic_output: complete files only, with the usual permissions."""
import os
import stat

import pytest

from mmseg_mctformer.utils.io import atomic_output, atomic_write_bytes, current_umask


@pytest.mark.parametrize('umask', [0o022, 0o077, 0o002])
def test_atomic_output_respects_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        path = str(tmp_path / 'mask.png')
        with atomic_output(path, suffix='.png') as tmp, open(tmp, 'wb') as f:
            f.write(b'x')
        plain = str(tmp_path / 'plain')
        open(plain, 'w').close()
        assert stat.S_IMODE(os.stat(path).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    finally:
        os.umask(old)


def test_atomic_write_names_the_file_on_disk_full(tmp_path, monkeypatch):
    import errno
    path = str(tmp_path / 'state.json')
    atomic_write_bytes(path, b'old')

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, 'fsync', fsync)
    with pytest.raises(OSError, match=r'cannot write .*state\.json: No space left') as info:
        atomic_write_bytes(path, b'new', fsync=True)
    assert info.value.errno == errno.ENOSPC
    with open(path, 'rb') as f:
        assert f.read() == b'old'
    assert os.listdir(tmp_path) == ['state.json']
