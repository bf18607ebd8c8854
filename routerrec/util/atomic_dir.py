"""Replacing a whole directory so that neither a crash nor a second writer loses it.

``write_directory(target, fill)`` holds an exclusive ``flock`` on ``.NAME.lock`` beside
``target`` (concurrent saves of one target run one after the other) and then:

1. restores ``target`` if an interrupted fallback swap (step 4) left it missing;
2. removes the ``.NAME.tmp-*`` / ``.NAME.old-*`` directories killed saves left behind;
3. fills a fresh ``.NAME.tmp-XXXXXXXX`` and fsyncs every file and directory in it;
4. swaps it in: ``renameat2(RENAME_EXCHANGE)`` where the kernel and filesystem have it
   (Linux >= 3.15 on ext4, xfs, btrfs, tmpfs...), so ``target`` is the complete old or the
   complete new directory at every instant; elsewhere ``target`` is renamed to
   ``.NAME.old-XXXXXXXX`` and the new one to ``target``, and a crash between the two renames
   is undone by step 1 of the next save or by the next ``restore_interrupted`` (every read);
5. fsyncs the parent (the save is durable once this returns) and deletes the old copy.

See docs/reliability.md for what is promised and which test checks each promise.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import secrets
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .files import fsync_path, fsync_tree

__all__ = ["LOCK_TIMEOUT", "write_directory", "locked", "restore_interrupted", "exchange",
           "leftovers"]

LOCK_TIMEOUT = 120.0  # seconds a save waits for another process saving the same target

_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
_LEFTOVER_SUFFIXES = {"tmp": r"tmp-[0-9a-f]{8}", "old": r"old-[0-9a-f]{8}|old-[0-9]+"}


def _load_renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    return renameat2


_RENAMEAT2 = _load_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step; False where the kernel, the C library or
    the filesystem cannot (the caller then falls back to two renames)."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _sibling(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name}.{kind}-{secrets.token_hex(4)}")


def leftovers(target: Path, kinds: tuple[str, ...] = ("tmp", "old")) -> list[Path]:
    """The ``.NAME.tmp-*`` / ``.NAME.old-*`` siblings of ``target`` that killed saves leave
    (``.NAME.old-PID`` is what saves of routerrec 0.1 left)."""
    suffixes = "|".join(_LEFTOVER_SUFFIXES[kind] for kind in kinds)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.({suffixes})")
    try:
        names = os.listdir(target.parent)
    except FileNotFoundError:
        return []
    return [target.parent / n for n in names if pattern.fullmatch(n)]


@contextmanager
def locked(target: Path, *, timeout: float = LOCK_TIMEOUT,
           error: type[Exception] = OSError) -> Iterator[None]:
    """Hold the exclusive lock of ``target``, waiting up to ``timeout`` seconds for the
    process that holds it. The lock file is deleted on release (by its holder, so a waiter
    that locked the deleted file notices and locks the new one)."""
    path = target.with_name(f".{target.name}.lock")
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            _wait_for_lock(fd, deadline, target, path, timeout, error)
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _wait_for_lock(fd: int, deadline: float, target: Path, path: Path, timeout: float,
                   error: type[Exception]) -> None:
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise error(f"{target}: another process is saving it (it holds {path}); "
                            f"waited {timeout:g} s, try again when it has finished") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def restore_interrupted(target: Path, *, timeout: float = LOCK_TIMEOUT,
                        error: type[Exception] = OSError) -> bool:
    """Put back the previous ``target`` when a fallback swap was killed between its two
    renames; True if it did. Cheap (one listdir) when there is nothing to do."""
    if os.path.lexists(target) or not leftovers(target, ("old",)):
        return False
    with locked(target, timeout=timeout, error=error):
        return _restore_locked(target)


def _restore_locked(target: Path) -> bool:
    olds = leftovers(target, ("old",))
    if os.path.lexists(target) or not olds:
        return False
    os.rename(max(olds, key=lambda p: os.lstat(p).st_ctime_ns), target)
    fsync_path(target.parent)
    return True


def write_directory(target: Path, fill: Callable[[Path], None], *,
                    prepare: Callable[[Path], None] = lambda target: None,
                    timeout: float = LOCK_TIMEOUT, error: type[Exception] = OSError) -> None:
    """Make ``target`` the directory ``fill(tmp)`` writes, atomically (see the module doc).

    ``prepare(target)`` runs under the lock before anything is written: it raises to refuse
    replacing what is there, and may tidy beside it.
    """
    target = Path(os.path.realpath(target))
    if not target.parent.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        fsync_path(target.parent.parent)
    with locked(target, timeout=timeout, error=error):
        _restore_locked(target)
        for stale in leftovers(target):
            shutil.rmtree(stale, ignore_errors=True)
        prepare(target)
        tmp = _sibling(target, "tmp")
        os.mkdir(tmp)
        try:
            fill(tmp)
            fsync_tree(tmp)
            old = _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_path(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _swap_in(new: Path, target: Path) -> Path | None:
    """Move ``new`` to ``target``; return where the previous contents now are, if any."""
    if not os.path.lexists(target):
        os.rename(new, target)
        return None
    if exchange(new, target):
        return new
    old = _sibling(target, "old")
    os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    return old
