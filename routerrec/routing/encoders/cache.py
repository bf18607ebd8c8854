"""``encode_cached``: features memoised on disk by content hash (encoder state + keys), in
``$ROUTERREC_CACHE`` or ``~/.cache/routerrec``, written atomically as npz."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Encoder
from .neural import FunctionEncoder

__all__ = ["cache_dir", "encode_cached"]


def cache_dir() -> Path:
    return Path(os.environ.get("ROUTERREC_CACHE") or Path.home() / ".cache" / "routerrec")


def _fingerprint(encoder: Encoder, keys: Sequence[str]) -> str:
    h = hashlib.sha256()
    params, arrays = encoder.state()
    h.update(json.dumps([encoder.name, params], sort_keys=True).encode())
    for k in sorted(arrays):
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    for key in keys:
        h.update(b"\x00" + ("" if key is None else key).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def encode_cached(encoder: Encoder, keys: Sequence[str], *, directory: Path | None = None) -> np.ndarray:
    """``encoder.transform(keys)``, memoised on disk by a hash of the encoder state and keys.

    Worth it for slow encoders over fixed training sets (e.g. ``wordllama`` on 12k prompts
    in a benchmark run many times); a changed text or encoder parameter is a new entry.
    Your own function (``FunctionEncoder``) is never cached: its code is not part of any
    hash, so a changed function would get stale features.
    """
    if type(encoder) is FunctionEncoder:
        return encoder.transform(keys)
    d = Path(directory) if directory is not None else cache_dir() / "features"
    path = d / f"{_fingerprint(encoder, keys)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                return npz["features"]
        except (ValueError, OSError, KeyError, EOFError):
            path.unlink(missing_ok=True)  # a corrupt entry is recomputed
    from ...util.files import atomic_write

    z = encoder.transform(keys)
    atomic_write(path, lambda tmp: np.savez(tmp, features=z))
    return z
