"""Writing files so that readers never see half of one and a crash loses nothing acknowledged."""
from __future__ import annotations

import math
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

__all__ = ["atomic_write", "fsync_path", "fsync_tree", "strict_json", "NotRegularFileError",
           "open_regular"]


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: a failure leaves the old file,
    and once this returns the new one survives a crash (file and directory are fsynced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        fsync_path(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's contents (a directory's: its entries) to disk."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root``, directories after their contents."""
    for parent, _, files in os.walk(root, topdown=False):
        for name in files:
            fsync_path(Path(parent, name))
        fsync_path(Path(parent))


def strict_json(obj):
    """``obj`` with NaN/inf as None and numpy scalars/arrays (values and keys) as Python
    values, so strict JSON can always hold it (a NaN metric must never stop a fitted model
    being saved, nor a budget that is a numpy int a report)."""
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    if isinstance(obj, np.generic):
        return strict_json(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key.item() if isinstance(key, np.generic) else key: strict_json(value)
                for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(value) for value in obj]
    return obj


class NotRegularFileError(OSError):
    """A path that names a FIFO, device, socket or directory where a file was expected."""


def open_regular(path, *, dir_fd: int | None = None) -> BinaryIO:
    """Open ``path`` for binary reading only if it is a regular file: a FIFO or a device
    fails at once instead of blocking or streaming forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(f"{path}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
