"""Saved models and routers: a directory of ``manifest.json`` + ``arrays.npz``.

One place for the rules both follow. Writing goes through ``atomic_dir.write_directory``
(locked, crash-safe swap, stale temporaries removed, fsynced; a directory that is not ours
is never replaced) with the manifest as strict JSON, NaN/inf written as null. Reading opens
only regular files, bounds the manifest and the arrays before allocating anything
(``safe_npz``, no pickle) and turns every kind of damage into the caller's error class.
See docs/reliability.md.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .atomic_dir import LOCK_TIMEOUT, leftovers, restore_interrupted, write_directory
from .files import NotRegularFileError, open_regular, strict_json
from .limits import MAX_BYTES_ENV, format_bytes, max_array_bytes
from .safe_npz import read_npz

__all__ = ["FORMAT_VERSION", "ArtifactError", "write_artifact", "read_artifact",
           "check_target"]

FORMAT_VERSION = 1
MANIFEST, ARRAYS = "manifest.json", "arrays.npz"
_READ_ATTEMPTS = 5
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC
_SAVED_PARTS = re.compile(  # what a routerrec 0.1 save could have written into its temporary
    r"manifest\.json|arrays\.npz|completion|m[0-9]+|\.completion\.[a-z0-9_]{8}")


class ArtifactError(ValueError):
    """A saved directory that is missing, corrupt or written by an incompatible version."""


class _Replaced(Exception):
    """The directory was swapped by a save while being read; read it again."""


def write_artifact(directory, manifest: Mapping, arrays: Mapping[str, np.ndarray], *,
                   error: type[ArtifactError] = ArtifactError,
                   write_parts: Callable[[Path], None] | None = None,
                   lock_timeout: float = LOCK_TIMEOUT) -> Path:
    """Write ``manifest`` (JSON) and ``arrays`` (npz), plus whatever ``write_parts(tmp)``
    adds, into ``directory``: atomically, durably, one writer at a time (others wait up to
    ``lock_timeout`` seconds)."""
    target = Path(directory)
    try:
        text = json.dumps(strict_json({**manifest, "format_version": FORMAT_VERSION}),
                          indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise error(f"{target}: cannot save, the manifest is not JSON ({exc})") from None

    def fill(tmp: Path) -> None:
        if write_parts is not None:
            write_parts(tmp)
        np.savez(tmp / ARRAYS, allow_pickle=False, **arrays)
        (tmp / MANIFEST).write_text(text)

    try:
        write_directory(target, fill, prepare=lambda real: _prepare(real, error),
                        timeout=lock_timeout, error=error)
    except OSError as exc:
        raise error(f"{target}: cannot save ({exc})") from exc
    return target


def _prepare(target: Path, error: type[ArtifactError]) -> None:
    """Under the save lock: refuse a target that is not ours, and delete the temporaries that
    killed saves of routerrec 0.1 left beside it (``.NAME.XXXXXXXX`` holding our files only)."""
    check_target(target, error=error)
    legacy = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}")
    for entry in os.scandir(target.parent):
        if (legacy.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
                and all(_SAVED_PARTS.fullmatch(name) for name in os.listdir(entry.path))):
            shutil.rmtree(entry.path, ignore_errors=True)


def check_target(directory, *, error: type[ArtifactError] = ArtifactError) -> None:
    """Refuse a save target that routerrec must not replace; call it before a long fit.

    Accepted: a path that does not exist, an empty directory, a directory a routerrec
    save wrote. Anything else is the user's and is never replaced.
    """
    d = Path(directory)
    if not os.path.lexists(d):
        return
    if not d.is_dir():
        raise error(f"{d} exists and is not a directory; refusing to replace it")
    if not any(os.scandir(d)):
        return
    try:
        fd = os.open(d, _DIR_FLAGS)
        try:
            found = _load_manifest(d, fd, error).get("format")
        finally:
            os.close(fd)
    except (OSError, ArtifactError):
        found = None
    if not (isinstance(found, str) and found.startswith("routerrec-")):
        raise error(f"{d} exists and is not a routerrec directory; refusing to replace it "
                    "(choose another path, or remove it yourself)")


def read_artifact(directory, *, fmt: str, what: str,
                  error: type[ArtifactError] = ArtifactError,
                  hints: Mapping[str, str] | None = None,
                  expect: Callable[[dict], Mapping[str, tuple]] | None = None
                  ) -> tuple[dict, dict]:
    """The manifest and arrays of a directory written by ``write_artifact`` as ``fmt``.

    ``what`` names the thing in messages ("model", "router"); ``hints`` maps another
    format to a sentence that tells the user what to do with it instead; ``expect(manifest)``
    returns the shapes the arrays must have (see ``safe_npz.read_npz``), so a file that
    claims more than its manifest is refused before anything is allocated. Both files come
    from one version of the directory even while another process saves over it.
    """
    d = Path(directory)
    for _ in range(_READ_ATTEMPTS):
        try:
            fd = os.open(d, _DIR_FLAGS)
        except FileNotFoundError:
            _restore(d, error)
            if os.path.exists(d):  # restored, or a save's fallback swap has just finished
                continue
            raise error(f"{d}: no such {what} directory") from None
        except NotADirectoryError:
            raise error(f"{d}: not a {what} directory (a file)") from None
        except OSError as exc:
            raise error(f"{d}: cannot open the {what} directory ({exc.strerror})") from None
        try:
            return _read_version(d, fd, fmt, what, error, hints or {}, expect)
        except _Replaced:
            continue
        finally:
            os.close(fd)
    raise error(f"{d}: replaced by other saves {_READ_ATTEMPTS} times while being read; "
                "try again")


def _read_version(d: Path, fd: int, fmt: str, what: str, error: type[ArtifactError],
                  hints: Mapping[str, str], expect) -> tuple[dict, dict]:
    try:
        manifest = _load_manifest(d, fd, error)
    except FileNotFoundError:
        _raise_if_replaced(d, fd)
        raise error(f"{d}: not a routerrec {what} (no {MANIFEST})") from None
    path = d / MANIFEST
    found = manifest.get("format")
    if found != fmt:
        hint = hints.get(found, "") if isinstance(found, str) else ""
        raise error(f"{path}: not a routerrec {what} manifest{hint}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise error(f"{path}: format version {version!r}, this routerrec reads version "
                    f"{FORMAT_VERSION}; refit or upgrade routerrec")
    try:
        shapes = expect(manifest) if expect is not None else None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise error(f"{path}: incomplete manifest ({type(exc).__name__}: {exc})") from None
    try:
        fh = open_regular(ARRAYS, dir_fd=fd)
    except FileNotFoundError:
        _raise_if_replaced(d, fd)
        raise error(f"{d}: {ARRAYS} is missing") from None
    except OSError as exc:
        raise error(f"{d / ARRAYS}: cannot read ({_reason(exc)})") from None
    with fh:
        return manifest, read_npz(fh, d / ARRAYS, error=error, expect=shapes)


def _load_manifest(d: Path, fd: int, error: type[ArtifactError]) -> dict:
    """The parsed manifest, refused when too large to parse cheaply or not a JSON object;
    FileNotFoundError is left to the caller."""
    path = d / MANIFEST
    cap = max(max_array_bytes() // 16, 1 << 20)
    try:
        with open_regular(MANIFEST, dir_fd=fd) as fh:
            text = fh.read(min(os.fstat(fh.fileno()).st_size, cap) + 1)  # read(n) allocates n
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot read ({_reason(exc)})") from None
    if len(text) > cap:
        raise error(f"{path}: larger than {format_bytes(cap)}, refused (raise "
                    f"{MAX_BYTES_ENV} if it is genuine)")
    try:
        manifest = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f"{path}: corrupt manifest ({type(exc).__name__}: {exc})") from None
    if not isinstance(manifest, dict):
        raise error(f"{path}: corrupt manifest (not a JSON object)")
    return manifest


def _reason(exc: OSError) -> str:
    return "not a regular file" if isinstance(exc, NotRegularFileError) else str(exc.strerror)


def _raise_if_replaced(d: Path, fd: int) -> None:
    """Raise _Replaced when ``d`` is no longer the directory ``fd`` opened (a save swapped it
    and is deleting the old copy, so files went missing under us)."""
    try:
        now = os.stat(d)
    except OSError:
        raise _Replaced from None
    held = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
        raise _Replaced


def _restore(d: Path, error: type[ArtifactError]) -> None:
    """Undo a save killed between the two renames of the fallback swap, if one was."""
    real = Path(os.path.realpath(d))
    try:
        restore_interrupted(real, error=error)
    except OSError as exc:
        raise error(f"{d} is missing; an interrupted save left the previous copy in "
                    f"{[str(p) for p in leftovers(real, ('old',))]}, which could not be put "
                    f"back ({exc.strerror}): rename it to {d.name}") from None
