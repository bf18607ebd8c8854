"""Saved models and routers: a directory of ``manifest.json`` + ``arrays.npz``.

One place for the rules both follow: the directory is written next to its target and
swapped in by rename (a failed save leaves the previous copy intact, and a directory
that is not ours is never replaced), and arrays are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

__all__ = ["FORMAT_VERSION", "ArtifactError", "write_artifact", "read_artifact"]

FORMAT_VERSION = 1
MANIFEST, ARRAYS = "manifest.json", "arrays.npz"


class ArtifactError(ValueError):
    """A saved directory that is missing, corrupt or written by an incompatible version."""


def write_artifact(directory, manifest: Mapping, arrays: Mapping[str, np.ndarray], *,
                   error: type[ArtifactError] = ArtifactError,
                   write_parts: Callable[[Path], None] | None = None) -> Path:
    """Write ``manifest`` (JSON) and ``arrays`` (npz), plus whatever ``write_parts(tmp)``
    adds, into ``directory`` atomically."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if write_parts is not None:
            write_parts(tmp)
        np.savez(tmp / ARRAYS, **arrays)
        with open(tmp / MANIFEST, "w") as fh:
            json.dump({**manifest, "format_version": FORMAT_VERSION}, fh, indent=1,
                      allow_nan=False)
        _replace_dir(tmp, target, error)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _replace_dir(new: Path, target: Path, error: type[ArtifactError]) -> None:
    """Swap ``new`` into ``target``; the old directory is removed only after the swap."""
    if not target.exists():
        os.rename(new, target)
        return
    if not (target / MANIFEST).is_file():
        raise error(f"{target} exists and is not a routerrec directory; refusing to replace it")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_artifact(directory, *, fmt: str, what: str,
                  error: type[ArtifactError] = ArtifactError,
                  hints: Mapping[str, str] | None = None) -> tuple[dict, dict]:
    """The manifest and arrays of a directory written by ``write_artifact`` as ``fmt``.

    ``what`` names the thing in messages ("model", "router"); ``hints`` maps another
    format to a sentence that tells the user what to do with it instead.
    """
    d = Path(directory)
    path = d / MANIFEST
    if not d.is_dir():
        raise error(f"{d}: no such {what} directory")
    if not path.is_file():
        raise error(f"{d}: not a routerrec {what} (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: corrupt manifest ({exc})") from None
    found = manifest.get("format") if isinstance(manifest, dict) else None
    if found != fmt:
        hint = (hints or {}).get(found, "")
        raise error(f"{path}: not a routerrec {what} manifest{hint}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise error(f"{path}: format version {version!r}, this routerrec reads version "
                    f"{FORMAT_VERSION}; refit or upgrade routerrec")
    try:
        with np.load(d / ARRAYS, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise error(f"{d}: {ARRAYS} is missing") from None
    except (ValueError, OSError, EOFError) as exc:
        raise error(f"{d / ARRAYS}: corrupt array file ({exc})") from None
    return manifest, arrays
