"""Atomic files: a crash (a SIGKILL can land anywhere) leaves the old file or the new one, never half."""

import os
import tempfile


def save_atomic(path, data):
    """Writes `data` to `path` atomically and durably, returns path.

    data: bytes, str (UTF-8), or a callable taking a binary file object (e.g.
    `lambda f: torch.save(state, f)`). The data goes to a temporary file in the same
    directory, is flushed and fsynced, then os.replace()d over `path`, and the directory
    is fsynced so the rename survives a crash too. On any error the temporary file is
    removed and `path` is left as it was."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            elif isinstance(data, str):
                f.write(data.encode("utf-8"))
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return path
